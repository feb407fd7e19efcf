# Sourced by the scripts: make sure the pinned uv is on PATH (installs it with pip if missing).
UV_VERSION="0.13.9"
if ! command -v uv >/dev/null 2>&1 || [ "$(uv --version 2>/dev/null | cut -d' ' -f2)" != "$UV_VERSION" ]; then
  echo "Installing uv $UV_VERSION with pip ..." >&2
  python3 -m pip install --quiet --disable-pip-version-check "uv==$UV_VERSION" >&2 \
    || python3 -m pip install --quiet --user --disable-pip-version-check "uv==$UV_VERSION" >&2
  export PATH="$HOME/.local/bin:$PATH"
fi
