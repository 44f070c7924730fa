"""The web console for sales managers: queue, lead, team pages and manager actions, served by the router.

Mount it with ``app.include_router(router)`` (prefix /console); it uses the router app's ``state.sessions``
and ``state.routing`` and brings its own lifespan (HTTP clients, business gauges).
"""

from services.router.console.routes import router

__all__ = ["router"]
