"""`darvaza smoke rbac-admin`: the RBAC matrix, black-box, against a running instance.

It reads every operation and its declared policy (`x-darvaza-policy`) from the server's
OpenAPI document, builds a small world through the admin API (two tenants, an owner of
each, a manager, a customer, and one member of each platform role), then calls every
route as each kind of caller and compares the answer with what the policy promises:

- success (2xx or a redirect) where the policy admits the caller;
- 401 for anonymous callers and for forged, truncated, revoked or malformed credentials;
- 303 to the sign-in page for console pages reached without signing in;
- 403 for a known caller the policy does not admit;
- 404 for an unknown tenant, and for another tenant's (or user's) objects.

A route the server serves with no example here, or an example for a route the server does
not serve, is a deviation too: new routes join the matrix by adding an example.

The world it builds stays behind (users and tenants named `smoke-<run>-…`).
"""

from darvaza.operations.smoke.rbac.runner import EXAMPLES, run_rbac_matrix
from darvaza.operations.smoke.rbac.world import Call, Example

__all__ = ["EXAMPLES", "Call", "Example", "run_rbac_matrix"]
