"""The daily latent process, the shipment counts it emits, and the exact oracle churn probability.

Each customer's latent state on day ``d`` is (engagement, phase): engagement ENGAGED / DRIFTING /
LOST (absorbing) and phase BUSY / QUIET (the irregular cadence of forwarders and agents). Both
move as independent daily Markov chains given the previous state; the engagement probabilities
of day ``d`` depend only on static attributes and deterministic schedules (tenure, price reviews),
never on random realised events. Shipments on day ``d`` are Poisson with rate
``busy_rate · season(d) · weekday(d) · phase factor · engagement factor`` (1, ρ, 0).

The oracle at a cutoff ``c`` starts from the one-hot latent state of day ``c`` and runs the forward
recursion ``v ← (v · P_d) ⊙ P(no shipment on d | state)`` for ``d = c+1 .. c+H``; the total mass
left is the probability of no shipment in ``(c, c+H]``. :func:`run_process` evaluates the kernel
of each day once and uses it both to simulate and to advance every open cutoff.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from berth.simulation.config import SimulationConfig
from berth.simulation.interventions import Treatments
from berth.simulation.population import Calendar, Population

ENGAGED, DRIFTING, LOST = 0, 1, 2
STATE_NAMES = ("engaged", "drifting", "lost")
MAX_DAILY_PROBABILITY = 0.5
CHUNK_SIZE = 32_768


@dataclass(frozen=True)
class DayKernel:
    """Transition probabilities into day ``d`` and the busy-phase shipment rate on ``d``."""

    engaged_to_drifting: np.ndarray
    engaged_to_lost: np.ndarray
    drifting_to_lost: np.ndarray
    drifting_to_engaged: np.ndarray
    busy_rate: np.ndarray


class Hazards:
    """Deterministic daily kernels; :meth:`step` must be called for days 0, 1, 2, … in order.

    The price-shock level is kept as a recursively decaying state (one multiply a day) instead of
    summing over past reviews.
    """

    def __init__(
        self,
        pop: Population,
        calendar: Calendar,
        config: SimulationConfig,
        treatments: Treatments | None = None,
    ) -> None:
        self._pop = pop
        self._treatments = treatments
        self._calendar = calendar
        self._hz = config.hazards
        self._decay = np.exp(-1.0 / config.hazards.price_memory_days)
        self._shock = np.zeros(pop.n)
        rows, cols = np.nonzero(pop.review_day < config.days)
        days = pop.review_day[rows, cols]
        order = np.argsort(days, kind="stable")
        self._review_days = days[order]
        self._review_customers = rows[order]
        self._review_jumps = np.maximum(pop.review_change[rows, cols][order], 0.0) / 0.05
        self._shocks = [
            (
                (shock.start - config.start).days,
                (shock.start - config.start).days + shock.days if shock.days is not None else config.days,
                shock,
            )
            for shock in config.shocks
        ]
        self._next_day = 0

    def step(self, day: int) -> DayKernel:
        """Kernel of ``day``: transitions from ``day − 1`` into ``day`` and the rate on ``day``."""
        if day != self._next_day:
            raise ValueError(f"Hazards.step expects day {self._next_day}, got {day}")
        self._next_day += 1
        pop, hz = self._pop, self._hz
        self._shock *= self._decay
        lo, hi = np.searchsorted(self._review_days, [day, day + 1])
        np.add.at(self._shock, self._review_customers[lo:hi], self._review_jumps[lo:hi])
        active = pop.since_day <= day
        tenure = np.maximum(day - pop.since_day, 0)
        newness = 1.0 + hz.new_customer_boost * np.exp(-tenure / hz.new_customer_days)
        price = 1.0 + hz.price_response * pop.sensitivity * self._shock
        per_day = np.where(active, 1.0 / 365.0, 0.0)
        cap = MAX_DAILY_PROBABILITY
        busy_rate = (
            pop.busy_rate * self._calendar.season[day] * pop.weekday_profile[:, self._calendar.weekday[day]]
        )
        busy_rate = busy_rate * active
        to_drifting = pop.engaged_to_drifting * newness * price * per_day
        to_lost = pop.engaged_to_lost * newness * per_day
        drifting_to_lost = pop.drifting_to_lost * per_day
        recovery = pop.drifting_to_engaged * per_day
        for j, (first, end, shock) in enumerate(self._shocks):
            if first <= day < end:  # a deterministic schedule of static flags: the oracle stays exact
                hit = pop.shock_hit[:, j]
                to_drifting = np.where(hit, to_drifting * shock.drifting_factor, to_drifting)
                to_lost = np.where(hit, to_lost * shock.lost_factor, to_lost)
                drifting_to_lost = np.where(hit, drifting_to_lost * shock.lost_factor, drifting_to_lost)
                recovery = np.where(hit, recovery * shock.recovery_factor, recovery)
                busy_rate = np.where(hit, busy_rate * shock.rate_factor, busy_rate)
        treated = self._treatments
        if treated is not None:
            on = (treated.start <= day) & (day < treated.end)  # a fixed schedule: the oracle stays exact
            if on.any():
                factor = np.where(on, treated.hazard_factor, 1.0)
                to_drifting, to_lost, drifting_to_lost = (
                    to_drifting * factor,
                    to_lost * factor,
                    drifting_to_lost * factor,
                )
                recovery = recovery * np.where(on, treated.recovery_factor, 1.0)
        return DayKernel(
            engaged_to_drifting=np.minimum(to_drifting, cap),
            engaged_to_lost=np.minimum(to_lost, cap),
            drifting_to_lost=np.minimum(drifting_to_lost, cap),
            drifting_to_engaged=np.minimum(recovery, cap),
            busy_rate=busy_rate,
        )


@dataclass(frozen=True)
class ProcessResult:
    """Latent paths, shipment counts per (customer, day) and the oracle probabilities."""

    state: np.ndarray  # (days, n) uint8 engagement state of each day
    quiet_days: np.ndarray  # (n,) days spent in the quiet phase after joining
    cell_customer: np.ndarray  # int32 customers of the (customer, day) cells with shipments
    cell_day: np.ndarray  # int32
    cell_count: np.ndarray  # int32
    cutoff_days: np.ndarray  # day index of each cutoff
    cutoff_state: np.ndarray  # (n_cutoffs, n) engagement state on the cutoff day
    oracle: np.ndarray  # (n_cutoffs, n_horizons, n) P(no shipment in (c, c+H]); NaN where c+H is past the end


def cutoff_grid(config: SimulationConfig) -> np.ndarray:
    """Day indices of the cutoffs that have at least one horizon fully inside the history."""
    last = config.days - 1 - min(config.horizons_days)
    return np.arange(config.cutoff_step_days, last + 1, config.cutoff_step_days, dtype=np.int64)


class _Oracle:
    """Forward recursions of all pending cutoffs, stacked as (4 transient states, slots, customers).

    Transient states: 0 engaged-busy, 1 engaged-quiet, 2 drifting-busy, 3 drifting-quiet; the mass
    in LOST (no shipments, absorbing) is kept apart in ``lost``. Cutoff ``i`` lives in slot
    ``i % slots``; cutoffs ``first .. started − 1`` are pending (a slot is reused only after its
    cutoff's last horizon inside the history has been read), and only their slots are advanced.
    """

    def __init__(self, config: SimulationConfig, cutoff_days: np.ndarray, result: np.ndarray) -> None:
        n = result.shape[2]
        self.horizons = np.asarray(config.horizons_days, dtype=np.int64)
        self.cutoff_days = cutoff_days
        last = config.days - 1
        self.finish_days = np.array(
            [c + max(h for h in config.horizons_days if c + h <= last) for c in cutoff_days], dtype=np.int64
        )
        self.slots = int(self.horizons.max()) // config.cutoff_step_days + 1
        self.mass = np.zeros((4, self.slots, n))
        self.lost = np.zeros((self.slots, n))
        self.result = result
        self.first = 0
        self.started = 0
        self._mixed = np.empty_like(self.mass)
        self._tmp = np.empty_like(self.lost)

    def _pending_slots(self) -> list[slice]:
        count = self.started - self.first
        if count <= 0:
            return []
        if count >= self.slots:
            return [slice(0, self.slots)]
        lo, hi = self.first % self.slots, (self.started - 1) % self.slots + 1
        return [slice(lo, hi)] if lo < hi else [slice(lo, self.slots), slice(0, hi)]

    def advance(self, k: DayKernel, pop: Population) -> None:
        """Apply one day's transition and the no-shipment likelihood to the pending slots (in place)."""
        pending = self._pending_slots()
        if not pending:
            return
        ed, el, dl, de = k.engaged_to_drifting, k.engaged_to_lost, k.drifting_to_lost, k.drifting_to_engaged
        stay_e, stay_d = 1.0 - ed - el, 1.0 - dl - de
        bq, qb, qf = pop.p_busy_to_quiet, pop.p_quiet_to_busy, pop.quiet_factor
        lam_e, lam_d = k.busy_rate, k.busy_rate * pop.rho
        q_eb, q_eq = np.exp(-lam_e), np.exp(-lam_e * qf)
        q_db, q_dq = np.exp(-lam_d), np.exp(-lam_d * qf)
        # engagement move: (target) <- (engaged source, drifting source, their coefficients)
        engagement = ((0, 2, stay_e, de), (1, 3, stay_e, de), (0, 2, ed, stay_d), (1, 3, ed, stay_d))
        # phase move × no-shipment likelihood in the target: (busy source, quiet source) coefficients
        phase = (
            ((1.0 - bq) * q_eb, qb * q_eb),
            (bq * q_eq, (1.0 - qb) * q_eq),
            ((1.0 - bq) * q_db, qb * q_db),
            (bq * q_dq, (1.0 - qb) * q_dq),
        )
        for sl in pending:
            mass, lost, mixed, tmp = self.mass[:, sl], self.lost[sl], self._mixed[:, sl], self._tmp[sl]
            np.add(mass[0], mass[1], out=tmp)
            tmp *= el
            lost += tmp
            np.add(mass[2], mass[3], out=tmp)
            tmp *= dl
            lost += tmp
            for target, (src_e, src_d, coef_e, coef_d) in enumerate(engagement):
                np.multiply(mass[src_e], coef_e, out=mixed[target])
                np.multiply(mass[src_d], coef_d, out=tmp)
                mixed[target] += tmp
            for target, (busy_coef, quiet_coef) in enumerate(phase):
                busy = target - target % 2  # busy state of the same engagement
                np.multiply(mixed[busy], busy_coef, out=mass[target])
                np.multiply(mixed[busy + 1], quiet_coef, out=tmp)
                mass[target] += tmp

    def record(self, day: int) -> None:
        """Store the probabilities of cutoffs whose horizon ends today; retire finished cutoffs."""
        for i in range(self.first, self.started):
            hit = np.flatnonzero(self.horizons == day - int(self.cutoff_days[i]))
            if hit.size:
                slot = i % self.slots
                self.result[i, hit[0]] = self.mass[:, slot].sum(axis=0) + self.lost[slot]
        while self.first < self.started and self.finish_days[self.first] <= day:
            self.first += 1

    def open(self, state: np.ndarray, quiet: np.ndarray) -> None:
        """Start the recursion of the next cutoff from today's latent states."""
        slot = self.started % self.slots
        self.mass[:, slot] = 0.0
        transient = np.flatnonzero(state != LOST)
        self.mass[2 * state[transient] + quiet[transient], slot, transient] = 1.0
        self.lost[slot] = state == LOST
        self.started += 1


@dataclass(frozen=True)
class _ChunkOutput:
    """Views into the full-population outputs that one chunk of customers fills."""

    state: np.ndarray
    cutoff_state: np.ndarray
    oracle: np.ndarray
    quiet_days: np.ndarray


def _run_chunk(
    pop: Population,
    calendar: Calendar,
    config: SimulationConfig,
    rng: np.random.Generator,
    out: _ChunkOutput,
    on_day: Callable[[], None] | None,
    treatments: Treatments | None = None,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Day loop of one chunk of customers; returns its (customers, counts) per day with shipments."""
    n = pop.n
    hazards = Hazards(pop, calendar, config, treatments)
    cutoff_days = cutoff_grid(config)
    oracle = _Oracle(config, cutoff_days, out.oracle)
    state = pop.initial_state.astype(np.uint8)
    quiet = pop.initial_quiet.copy()
    drift_factor = np.where(state == DRIFTING, pop.rho, 1.0)
    cells: list[tuple[np.ndarray, np.ndarray]] = []
    for day in range(config.days):
        k = hazards.step(day)
        if day > 0:
            u = rng.random(n)
            engaged, drifting = state == ENGAGED, state == DRIFTING
            to_drifting = engaged & (u < k.engaged_to_drifting)
            to_lost = (engaged & ~to_drifting & (u < k.engaged_to_drifting + k.engaged_to_lost)) | (
                drifting & (u < k.drifting_to_lost)
            )
            to_engaged = drifting & ~to_lost & (u < k.drifting_to_lost + k.drifting_to_engaged)
            state[to_drifting] = DRIFTING
            state[to_lost] = LOST
            state[to_engaged] = ENGAGED
            drift_factor[to_drifting] = pop.rho[to_drifting]
            drift_factor[to_lost] = 0.0
            drift_factor[to_engaged] = 1.0
            u = rng.random(n)
            quiet = np.where(quiet, u >= pop.p_quiet_to_busy, u < pop.p_busy_to_quiet)
            oracle.advance(k, pop)
        rate = k.busy_rate * np.where(quiet, pop.quiet_factor, 1.0) * drift_factor
        counts = rng.poisson(rate)
        hit = np.flatnonzero(counts)
        cells.append((hit.astype(np.int32), counts[hit].astype(np.int32)))
        out.state[day] = state
        out.quiet_days[:] += quiet & (pop.since_day <= day)
        oracle.record(day)
        if oracle.started < cutoff_days.shape[0] and cutoff_days[oracle.started] == day:
            out.cutoff_state[oracle.started] = state
            oracle.open(state, quiet.astype(np.int64))
        if on_day is not None:
            on_day()
    return cells


def run_process(
    pop: Population,
    calendar: Calendar,
    config: SimulationConfig,
    seed: np.random.SeedSequence,
    on_day: Callable[[], None] | None = None,
    workers: int | None = None,
    treatments: Treatments | None = None,
) -> ProcessResult:
    """Simulate every customer's latent path and daily shipment counts, and run the oracle.

    Customers are processed in fixed chunks of :data:`CHUNK_SIZE`, each with its own random
    stream (``seed`` spawned by chunk index), so the result does not depend on ``workers``;
    chunks run in threads (numpy releases the GIL). ``on_day`` is called once per chunk and day.
    """
    n, days = pop.n, config.days
    cutoff_days = cutoff_grid(config)
    state_path = np.empty((days, n), dtype=np.uint8)
    cutoff_state = np.empty((cutoff_days.shape[0], n), dtype=np.uint8)
    oracle = np.full((cutoff_days.shape[0], len(config.horizons_days), n), np.nan)
    quiet_days = np.zeros(n, dtype=np.int64)
    bounds = [(lo, min(lo + CHUNK_SIZE, n)) for lo in range(0, n, CHUNK_SIZE)]

    def work(i: int) -> list[tuple[np.ndarray, np.ndarray]]:
        lo, hi = bounds[i]
        stream = np.random.SeedSequence(seed.entropy, spawn_key=(*seed.spawn_key, i))
        out = _ChunkOutput(
            state=state_path[:, lo:hi],
            cutoff_state=cutoff_state[:, lo:hi],
            oracle=oracle[:, :, lo:hi],
            quiet_days=quiet_days[lo:hi],
        )
        chunk_treatments = treatments.subset(lo, hi) if treatments is not None else None
        return _run_chunk(
            pop.subset(lo, hi), calendar, config, np.random.default_rng(stream), out, on_day, chunk_treatments
        )

    threads = min(len(bounds), workers or available_cpus())
    if threads > 1:
        with ThreadPoolExecutor(threads) as pool:
            chunks = list(pool.map(work, range(len(bounds))))
    else:
        chunks = [work(i) for i in range(len(bounds))]
    # merge day by day: chronological order, customers ascending within a day
    customers, counts, per_day = [], [], []
    for day in range(days):
        total = 0
        for (lo, _), cells in zip(bounds, chunks, strict=True):
            hit, count = cells[day]
            customers.append(hit + lo)
            counts.append(count)
            total += hit.shape[0]
        per_day.append(total)
    return ProcessResult(
        state=state_path,
        quiet_days=quiet_days,
        cell_customer=np.concatenate(customers),
        cell_day=np.repeat(np.arange(days, dtype=np.int32), per_day),
        cell_count=np.concatenate(counts),
        cutoff_days=cutoff_days,
        cutoff_state=cutoff_state,
        oracle=oracle,
    )


def n_chunks(n: int) -> int:
    """Number of customer chunks the day loop runs in."""
    return -(-n // CHUNK_SIZE)


def available_cpus() -> int:
    """CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1
