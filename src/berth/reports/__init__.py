"""Reports for retention managers: pure tables (``portfolio``) and a self-contained HTML page (``html``)."""

from berth.reports.portfolio import PortfolioConfig, PortfolioReport, portfolio_report

__all__ = ["PortfolioConfig", "PortfolioReport", "portfolio_report"]
