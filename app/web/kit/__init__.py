"""The web kit: what the portal and the admin pages share, parameterised by the side.

csrf (the form token), sessions (the signed cookie backed by a server-side
login session), pages (the page decorator: session, CSRF, form reading,
templates, error pages, headers) and signin (credentials through lockouts,
session rotation, logout). app/web/portal and app/web/admin each declare
their side once and use nothing else of the other.
"""
