"""schemathesis's sign-in for the contract run (loaded through SCHEMATHESIS_HOOKS).

The run signs in as the role under test and signs in again whenever an answer is a 401:
a generated call may well end the caller's own session (signing out, ending sessions,
or a role change that revokes credentials), and that must not blind the rest of the run."""

from __future__ import annotations

import os
from typing import Any

import httpx
import schemathesis


@schemathesis.auth(retry_on=[401])
class SignIn:
    def get(self, _case: Any, _context: Any) -> str:
        answer = httpx.post(
            os.environ["DARVAZA_CONTRACT_URL"] + "/api/v1/auth/login",
            json={
                "email": os.environ["DARVAZA_CONTRACT_EMAIL"],
                "password": os.environ["DARVAZA_CONTRACT_PASSWORD"],
            },
            timeout=30,
        )
        answer.raise_for_status()
        return str(answer.json()["token"])

    def set(self, case: Any, data: str, _context: Any) -> None:
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}
