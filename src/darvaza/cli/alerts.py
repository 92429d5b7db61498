"""`darvaza alerts`: the alert routes in force, and a test alert sent through one."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from darvaza.cli.common import _fail, _settings

if TYPE_CHECKING:
    from darvaza.config import Settings
    from darvaza.ops.alert_routes import AlertRoutes

alerts_app = typer.Typer(
    help="Alert routing: the routes in force, and a test alert end to end.",
    no_args_is_help=True,
)


def _routes() -> tuple[Settings, AlertRoutes]:
    from darvaza.ops.alert_routes import AlertRoutesError, load_alert_routes

    settings = _settings()
    try:
        routes = load_alert_routes(settings)
    except AlertRoutesError as exc:
        _fail(f"The alert routes file cannot be used: {exc}")
    if not routes.routes:
        _fail("No alert routes: set DARVAZA_ALERT_ROUTES_FILE (findings are shown, never sent).")
    return settings, routes


@alerts_app.command("routes")
def alerts_routes() -> None:
    """Each route: its owner, what it matches, its receivers and repeat interval; then the
    critical and high checks that no route sends anywhere. Exits 1 without a routes file."""
    from darvaza.assembly import CHECKS
    from darvaza.ops.alert_routes import describe_routes, unrouted_checks

    _, routes = _routes()
    for row in describe_routes(routes):
        typer.echo(
            f"{row['route']:<24} owner {row['owner']:<15} severity {','.join(row['severity'])}"
            f"  code {','.join(row['code'])}  -> {', '.join(row['receivers'])}"
            f"  every {row['repeat_interval']}"
        )
    unrouted = unrouted_checks(routes, CHECKS)
    if unrouted:
        typer.echo(f"\nNot routed anywhere ({len(unrouted)}): {', '.join(unrouted)}")


@alerts_app.command("test")
def alerts_test(
    route: Annotated[str, typer.Option(help="The route to send through.")],
) -> None:
    """Send a test alert through every receiver of a route now (not through the queue),
    print each answer, and record `alert_test` evidence (passed only when every receiver
    took it). Exits 1 when a receiver did not."""
    from darvaza.cli.evidence import record_own_run
    from darvaza.clock import utcnow
    from darvaza.db import Database
    from darvaza.ops.alerts import DeliveryFailed, send_alert, test_alert

    settings, routes = _routes()
    chosen = routes.route(route)
    if chosen is None:
        _fail(f"No route {route}; the routes are: {', '.join(r.name for r in routes.routes)}.", 2)
    started = utcnow()
    alert = test_alert(chosen)
    results: dict[str, str] = {}
    for name in chosen.receivers:
        receiver = routes.receivers[name]
        try:
            results[name] = "delivered to " + send_alert(alert, chosen, receiver, settings)
        except DeliveryFailed as exc:
            results[name] = f"failed: {exc}"
        typer.echo(f"{name} ({receiver.kind}): {results[name]}")
    failed = [name for name, said in results.items() if said.startswith("failed")]
    details = {"route": chosen.name, "owner": chosen.owner, "receivers": results}
    db = Database.from_settings(settings)
    try:
        record_own_run(
            settings, db, "alert_test", chosen.name, "failed" if failed else "passed", details,
            started_at=started,
        )  # fmt: skip
    finally:
        db.dispose()
    if failed:
        raise typer.Exit(1)
