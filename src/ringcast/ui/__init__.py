"""The dashboard: server-rendered HTML pages under ``/ui/``, served by ``ringcast serve``.

Theory of operation. A person signs in at ``/ui/sign-in`` by pasting an API key; the
server checks it exactly as the APIs do (``services.accounts.authenticate``) and sets a
signed, ``HttpOnly``, ``SameSite=Strict`` session cookie that names the key (by its
visible prefix, never the key itself) and expires (``session.SESSION_TTL``). Each page
reads the key back through ``ui_principal``, so a revoked key or a disabled account ends
its sessions at once, and every page sees only that key's organization and workspace.
Pages read and act through the same ``services`` the APIs call: there is no second path
to the data. Live parts of a page are fragments htmx polls (``hx-trigger="every 3s"``).

How another module adds a page (``ringcast/ui/forecast.py`` as the example):

1. Make a router and give each route the principal::

       from fastapi import APIRouter, Request
       from ringcast.ui.session import CsrfChecked, UiPrincipal, UiStore
       from ringcast.ui.templating import render

       router = APIRouter(prefix="/ui")

       @router.get("/forecast", name="ui_forecast")
       def forecast_page(request: Request, principal: UiPrincipal, store: UiStore):
           return render(request, "forecast.html", principal, title="Forecast", ...)

   ``UiPrincipal`` (an ``api.auth.Principal``: ``.org_id``, ``.workspace_id``,
   ``.actor``) sends a visitor without a session to the sign-in page; a campaign id from
   the URL goes through ``services.campaigns.get(store, id, principal.org_id,
   principal.workspace_id)``, and its ``NotFound`` becomes the dashboard's 404 page.
2. Every POST route depends on the CSRF check: ``dependencies=[CsrfChecked]``; its form
   carries the token with ``{{ csrf_field() }}`` inside the ``<form>`` (htmx requests
   made from a form send it too). Read form fields with ``fastapi.Form``.
3. Templates go in ``ringcast/ui/templates/``; start with ``{% extends "base.html" %}``
   and fill ``{% block content %}`` (``{% block head %}`` for extra scripts). Filters:
   ``phone`` (human format, E.164 in ``title``), ``when(zone)`` (a time in a zone, with
   its offset); ``url_for('static', path=...)`` for the files in ``ringcast/ui/static/``.
   Add a nav entry in ``base.html``'s ``NAV`` list (``templating.NAV``).
4. Include the router in ``site.install`` (one line).

UI routes are not API routes: they take no API credential, so the API's scope rule does
not apply to them; ``tests/ui`` checks that each one but the sign-in page and the
static files requires a session.
"""
