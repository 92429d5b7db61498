"""The gateway's callback, verification, and settling a payment exactly once.

No transaction is held open across a call to the gateway: a slow gateway must not hold
the database. So a callback is read in one short transaction, verified with no
transaction open, and settled in a second one that re-checks the state under the row
lock; whichever of many concurrent callbacks settles first wins, and the rest find the
payment already paid. The unique payment id on the activation backs this up in the
database itself.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

from sqlalchemy import select
from sqlalchemy.orm import Session

from darvaza.audit.service import append_event, scrub
from darvaza.billing import events
from darvaza.billing.gateways import GatewayRegistry
from darvaza.billing.gateways.base import (
    CallbackData,
    CallbackRejected,
    Gateway,
    GatewayError,
    Inquiry,
    Outcome,
    PaymentRef,
    Verification,
    bounded_fields,
)
from darvaza.billing.models import Payment
from darvaza.billing.payments import lock_payment, move_payment
from darvaza.billing.subscriptions import activate_subscription
from darvaza.db import Database, flushed, lock_row_if_any
from darvaza.security.caller import Actor


@dataclass(frozen=True)
class CallbackResult:
    """Where to send the payer's browser: the payment's state after the callback."""

    state: str
    order_id: str | None
    # Set by `settle_by_inquiry` when the gateway said "not paid yet".
    open_at_gateway: bool = False


def _always() -> bool:
    return True


def receive_callback(
    db: Database,
    gateways: GatewayRegistry,
    gateway_name: str,
    fields: Mapping[str, str],
    *,
    record_rejection: Callable[[], bool] = _always,
) -> CallbackResult:
    """Handle a gateway's callback, however often and however concurrently it arrives.

    Nothing in it is trusted: it only says which payment to look at and whether the payer
    says they paid. A callback that names no payment of ours, or a gateway id that is not
    the one on record, changes nothing; it is recorded (in the audit log, or on the
    payment it names) while `record_rejection()` says so, so that anonymous junk cannot
    flood either.
    """
    # Long because: the whole path of a callback, from reading it to the gateway's answer,
    # reads as one story; each step it takes is a function of its own.
    try:
        gateway = gateways.get(gateway_name)
    except GatewayError as exc:
        return _reject_unreadable(db, gateway_name, fields, {}, str(exc), record_rejection)
    try:
        data = gateway.read_callback(fields)
    except CallbackRejected as exc:
        kept = bounded_fields(fields, gateway.callback_fields)
        return _reject_unreadable(db, gateway_name, fields, kept, str(exc), record_rejection)

    with db.transaction() as session:
        payment = _payment_named_by(session, gateway_name, data)
        if payment is None:
            if record_rejection():
                _audit_rejection(
                    session, gateway_name, fields, data.fields, "no payment of ours has this order"
                )
            return CallbackResult("unknown", None)
        if payment.gateway != gateway_name or payment.gateway_payment_id != data.gateway_payment_id:
            return _wrong_id(session, payment, gateway_name, data, record_rejection)
        events.record(
            session,
            payment,
            "callback_received",
            f"Callback with status {data.status} ({data.outcome.value}).",
            fields=data.fields,
        )
        if payment.state != "pending":
            return _already_settled(session, payment)
        if data.outcome is Outcome.PENDING:
            return CallbackResult(payment.state, payment.order_id)
        reference = PaymentRef(payment.order_id, data.gateway_payment_id, payment.amount_rials)
        payment_id = payment.id

    if data.outcome in (Outcome.FAILED, Outcome.CANCELLED):
        # A claim of failure is only a hint (anyone who knows an order id can send one, and
        # a payer may still be paying): the gateway's own answer decides.
        try:
            return settle_by_inquiry(db, gateway, payment_id, reference)
        except GatewayError as exc:
            return record_gateway_trouble(db, payment_id, "inquiry_failed", "Inquiry", exc)
    # "Awaiting verification" (or, should a gateway ever send it, "paid"): only the
    # gateway's own answer to verify decides.
    try:
        verification = gateway.verify(reference)
    except GatewayError as exc:
        return record_verify_failure(db, payment_id, exc)
    return apply_verification(db, payment_id, verification)


def _payment_named_by(session: Session, gateway_name: str, data: CallbackData) -> Payment | None:
    """The payment a callback names (by our order id, or else the gateway's id), locked."""
    if data.order_id is not None:
        return lock_row_if_any(session, Payment, Payment.order_id == data.order_id)
    return lock_row_if_any(
        session,
        Payment,
        Payment.gateway == gateway_name,
        Payment.gateway_payment_id == data.gateway_payment_id,
    )


def _wrong_id(
    session: Session,
    payment: Payment,
    gateway_name: str,
    data: CallbackData,
    record_rejection: Callable[[], bool],
) -> CallbackResult:
    """A callback naming our order with another gateway or payment id: ignored."""
    if record_rejection():
        events.record(
            session,
            payment,
            "callback_rejected",
            "The callback's gateway or payment id is not the one on record; ignored.",
            ours={"gateway": payment.gateway, "id": payment.gateway_payment_id},
            theirs={"gateway": gateway_name, "id": data.gateway_payment_id},
        )
    return CallbackResult(payment.state, payment.order_id)


def settle_by_inquiry(
    db: Database,
    gateway: Gateway,
    payment_id: uuid.UUID,
    reference: PaymentRef,
    *,
    reopen: frozenset[str] = frozenset(),
) -> CallbackResult:
    """Ask the gateway what became of a payment and settle by its answer: verify when it
    says the payer paid (inquiry is never a substitute for verify), fail or cancel when it
    says so, leave the payment open when it says "not yet". An inquiry that errs raises
    `GatewayError` and changes nothing. `reopen` is passed on to `apply_verification`."""
    inquiry = gateway.inquire(reference)
    if inquiry.outcome not in (Outcome.VERIFY, Outcome.PAID):
        result = apply_inquiry(db, payment_id, inquiry)
        return replace(result, open_at_gateway=inquiry.outcome is Outcome.PENDING)
    try:
        verification = gateway.verify(reference)
    except GatewayError as exc:
        return record_verify_failure(db, payment_id, exc)
    result = apply_verification(db, payment_id, verification, reopen=reopen)
    return replace(result, open_at_gateway=verification.outcome is Outcome.PENDING)


def apply_inquiry(db: Database, payment_id: uuid.UUID, inquiry: Inquiry) -> CallbackResult:
    """Settle an open payment by an inquiry that did not say "paid": failed or cancelled
    when the gateway says so, left open when it says "not yet". (Paid needs a verify.)"""
    with db.transaction() as session:
        payment = lock_payment(session, payment_id)
        events.record(
            session,
            payment,
            "inquiry_result",
            f"The gateway answered status {inquiry.status} ({inquiry.outcome.value}).",
            status=inquiry.status,
        )
        if payment.state != "pending":
            return _already_settled(session, payment)
        if inquiry.outcome in (Outcome.FAILED, Outcome.CANCELLED):
            _fail_per_gateway(session, payment, inquiry.outcome, inquiry.status)
        return CallbackResult(payment.state, payment.order_id)


def _fail_per_gateway(session: Session, payment: Payment, outcome: Outcome, status: str) -> None:
    move_payment(
        session,
        payment,
        outcome.value,
        event=outcome.value,
        message=f"The gateway says {outcome.value}.",
        failure=(f"status_{status}", "per the gateway"),
    )


def apply_verification(
    db: Database,
    payment_id: uuid.UUID,
    verification: Verification,
    *,
    reopen: frozenset[str] = frozenset(),
) -> CallbackResult:
    """Settle a payment from the gateway's server-to-server answer (a callback's verify, or
    reconciliation's inquiry). Activates only when the gateway says paid and its order id,
    payment id and amount are ours; any disagreement is a mismatch, recorded with both.

    A `failed` payment whose failure code is in `reopen` (a failure that older versions
    recorded from an answer that was not final) is settled as if still open, but only when
    the gateway now says paid: money the payer paid is then verified, not refunded."""
    with db.transaction() as session:
        payment = lock_payment(session, payment_id)
        events.record(
            session,
            payment,
            "verify_result",
            f"The gateway answered status {verification.status} ({verification.outcome.value}).",
            status=verification.status,
            order_id=verification.order_id,
            gateway_payment_id=verification.gateway_payment_id,
            amount_rials=verification.amount_rials,
            reference=verification.reference,
            already_verified=verification.already_verified,
        )
        if (
            payment.state == "failed"
            and payment.failure_code in reopen
            and verification.outcome is Outcome.PAID
        ):
            move_payment(
                session,
                payment,
                "pending",
                event="reopened",
                message=f"Failed earlier ({payment.failure_code}), but the gateway now says paid.",
            )
        if payment.state != "pending":
            return _already_settled(session, payment)
        if verification.outcome is not Outcome.PAID:
            if verification.outcome in (Outcome.FAILED, Outcome.CANCELLED):
                _fail_per_gateway(session, payment, verification.outcome, verification.status)
            return CallbackResult(payment.state, payment.order_id)
        return _settle_paid(session, payment, verification)


def _settle_paid(session: Session, payment: Payment, verification: Verification) -> CallbackResult:
    """The gateway verified a payment we hold locked and open: mark it paid and activate,
    in the caller's transaction, unless its answer disagrees with our record."""
    disagreements = _disagreements(payment, verification)
    if disagreements:
        return _mismatch(session, payment, disagreements)

    def keep_receipt() -> None:
        payment.gateway_reference = verification.reference
        payment.card_number_masked = verification.card_masked

    if not flushed(session, keep_receipt):  # the receipt already paid another payment
        payment = lock_payment(session, payment.id)
        return _mismatch(
            session,
            payment,
            {"reference": {"ours": "unused", "theirs": verification.reference}},
            why="this receipt already paid another order",
        )
    move_payment(
        session,
        payment,
        "paid",
        event="paid",
        message="Verified and paid.",
        reference=verification.reference,
    )
    activation = activate_subscription(session, payment)
    events.record(
        session,
        payment,
        "activated",
        "Subscription activated.",
        subscription_id=activation.subscription_id,
        period_end=activation.period_end,
    )
    append_event(
        session,
        action="payment.paid",
        actor=Actor.system("billing"),
        tenant_id=payment.tenant_id,
        target_type="payment",
        target_id=payment.id,
        data={
            "order_id": payment.order_id,
            "amount_rials": payment.amount_rials,
            "gateway": payment.gateway,
            "reference": verification.reference,
        },
    )
    return CallbackResult("paid", payment.order_id)


def _already_settled(session: Session, payment: Payment) -> CallbackResult:
    """A replay, or the loser of a race: the payment was settled; record and change nothing."""
    events.record(
        session,
        payment,
        "replay_ignored",
        f"The payment is already {payment.state}; nothing to do.",
    )
    return CallbackResult(payment.state, payment.order_id)


def _disagreements(payment: Payment, verification: Verification) -> dict[str, dict[str, object]]:
    ours: dict[str, object] = {
        "order_id": payment.order_id,
        "gateway_payment_id": payment.gateway_payment_id,
        "amount_rials": payment.amount_rials,
    }
    theirs: dict[str, object] = {
        "order_id": verification.order_id,
        "gateway_payment_id": verification.gateway_payment_id,
        "amount_rials": verification.amount_rials,
    }
    found = {k: {"ours": ours[k], "theirs": theirs[k]} for k in ours if ours[k] != theirs[k]}
    if not verification.reference:
        found["reference"] = {"ours": "a receipt", "theirs": None}
    return found


def _mismatch(
    session: Session,
    payment: Payment,
    disagreements: dict[str, dict[str, object]],
    why: str = "the gateway's answer disagrees with our record",
) -> CallbackResult:
    move_payment(
        session,
        payment,
        "mismatch",
        event="mismatch",
        message=f"Not activated: {why}.",
        failure=("mismatch", why),
        disagreements=disagreements,
    )
    append_event(
        session,
        action="payment.mismatch",
        actor=Actor.system("billing"),
        tenant_id=payment.tenant_id,
        target_type="payment",
        target_id=payment.id,
        reason=why,
        data={"order_id": payment.order_id, "disagreements": disagreements},
    )
    return CallbackResult("mismatch", payment.order_id)


def record_verify_failure(db: Database, payment_id: uuid.UUID, exc: GatewayError) -> CallbackResult:
    """A verify that timed out, failed on the gateway's side or was "not possible yet"
    leaves the payment pending, safe to verify again later; a final refusal ("too late")
    fails it."""
    return record_gateway_trouble(
        db, payment_id, "verify_failed", "Verify", exc, refusal_fails=True
    )


def record_gateway_trouble(
    db: Database,
    payment_id: uuid.UUID,
    kind: str,
    what: str,
    exc: GatewayError,
    *,
    refusal_fails: bool = False,
) -> CallbackResult:
    """Put a gateway call that failed on the payment's timeline (event `kind`; `what` the
    call). Nothing else changes, unless `refusal_fails` and the gateway refused for good."""
    with db.transaction() as session:
        payment = lock_payment(session, payment_id)
        events.record(
            session,
            payment,
            kind,
            f"{what} failed: {exc.code} {exc.message}",
            code=exc.code,
            retryable=exc.retryable,
        )
        if refusal_fails and not exc.retryable and payment.state == "pending":
            move_payment(
                session,
                payment,
                "failed",
                event="failed",
                message="The gateway refused verification.",
                failure=(exc.code, exc.message),
            )
        return CallbackResult(payment.state, payment.order_id)


def _reject_unreadable(
    db: Database,
    gateway_name: str,
    fields: Mapping[str, str],
    kept: dict[str, str],
    reason: str,
    record_rejection: Callable[[], bool],
) -> CallbackResult:
    """Record a callback that cannot be read: on the payment it names, if any, else in the
    audit log. Only the gateway's known fields are kept, each cut short (`kept`)."""
    with db.transaction() as session:
        order_id = str(fields.get("order_id", ""))[:50]
        payment = session.scalars(select(Payment).where(Payment.order_id == order_id)).one_or_none()
        if not record_rejection():
            if payment is not None:
                return CallbackResult(payment.state, payment.order_id)
            return CallbackResult("unknown", None)
        if payment is not None:
            events.record(
                session,
                payment,
                "callback_rejected",
                f"Unreadable callback ({reason[:200]}); ignored.",
                fields=kept,
                field_count=len(fields),
            )
            return CallbackResult(payment.state, payment.order_id)
        _audit_rejection(session, gateway_name, fields, kept, reason)
    return CallbackResult("unknown", None)


def _audit_rejection(
    session: Session,
    gateway_name: str,
    fields: Mapping[str, str],
    kept: dict[str, str],
    reason: str,
) -> None:
    append_event(
        session,
        action="payment.callback_rejected",
        actor=Actor.anonymous(),
        target_type="gateway",
        target_id=gateway_name[:50],
        reason=reason[:500],
        data={"fields": scrub(kept), "field_count": len(fields)},
    )
