"""Log-in, sessions, the TOTP second factor, throttling and password resets.

Failed attempts must be counted even though they fail, so these functions report
failure in their return value instead of raising: the caller commits either way.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

import pyotp
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from balai.access.actor import Actor, Via
from balai.accounts.models import LoginFailure, PasswordReset, User, WebSession
from balai.accounts.passwords import (
    check_password_policy,
    hash_password,
    needs_rehash,
    verify_password,
)
from balai.audit.events import AuditAction
from balai.audit.service import record
from balai.config import Settings
from balai.db import utcnow
from balai.errors import ValidationFailed
from balai.mail import render_mail
from balai.outbox.service import enqueue_email
from balai.tokens import hash_token, new_token

MFA_STEP_MINUTES = 5
INVITATION_DAYS = 7
SEEN_UPDATE_INTERVAL = timedelta(seconds=60)


class LoginStatus(StrEnum):
    """How a log-in attempt ended."""

    OK = "ok"
    MFA_REQUIRED = "mfa_required"
    FAILED = "failed"
    THROTTLED = "throttled"


@dataclass(frozen=True)
class LoginResult:
    """The outcome of a log-in step; `token` is the new session cookie value."""

    status: LoginStatus
    token: str | None = None
    user: User | None = None


def _account_key(email: str) -> str:
    return f"account:{email.strip().lower()}"


def _ip_key(ip: str | None) -> str:
    return f"ip:{ip or 'unknown'}"


def failures_since(session: Session, key: str, since: datetime) -> int:
    """How many failures were counted under a key since a time."""
    count = session.scalar(
        select(func.count()).where(LoginFailure.key == key, LoginFailure.at >= since)
    )
    return count or 0


def is_throttled(session: Session, *, settings: Settings, email: str, ip: str | None) -> bool:
    """Whether the account or the client address has failed too often lately."""
    since = utcnow() - timedelta(minutes=settings.login_window_minutes)
    return (
        failures_since(session, _account_key(email), since) >= settings.login_max_failures
        or failures_since(session, _ip_key(ip), since) >= settings.login_max_failures_per_ip
    )


def note_failure(session: Session, *keys: str) -> None:
    """Count one failure under each key."""
    now = utcnow()
    session.add_all(LoginFailure(key=key, at=now) for key in keys)


def _anonymous(ip: str | None) -> Actor:
    return Actor(via=Via.SESSION, client_ip=ip)


def _verified(
    session: Session,
    *,
    settings: Settings,
    email: str,
    password: str,
    client_ip: str | None,
    basic: bool,
) -> tuple[LoginStatus, User | None]:
    """Throttling, the password check and the audit of failures, shared by the log-in page
    and HTTP Basic (where an account with a second factor may not use its password alone)."""
    extra = {"via": "basic"} if basic else {}
    if is_throttled(session, settings=settings, email=email, ip=client_ip):
        record(
            session,
            actor=_anonymous(client_ip),
            action=AuditAction.LOGIN_THROTTLED,
            actor_label=email[:320] or "(empty)",
            details={"email": email[:320], **extra},
        )
        return LoginStatus.THROTTLED, None
    user = session.scalar(select(User).where(User.email == email))
    stored = user.password_hash if user is not None else None
    if (
        user is None
        or not verify_password(stored, password)
        or not user.active
        or (basic and user.has_totp)
    ):
        note_failure(session, _account_key(email), _ip_key(client_ip))
        record(
            session,
            actor=_anonymous(client_ip),
            action=AuditAction.LOGIN_FAILED,
            actor_label=email[:320] or "(empty)",
            object_type="user" if user else None,
            object_id=user.id if user else None,
            object_org_id=user.organisation_id if user else None,
            details={"email": email[:320], **extra},
        )
        return LoginStatus.FAILED, None
    return LoginStatus.OK, user


def login(
    session: Session,
    *,
    settings: Settings,
    email: str,
    password: str,
    client_ip: str | None,
    user_agent: str | None,
) -> LoginResult:
    """Check a password, throttling repeated failures; open a (possibly MFA-pending) session."""
    email = email.strip().lower()
    status, user = _verified(
        session, settings=settings, email=email, password=password, client_ip=client_ip, basic=False
    )
    if user is None:
        return LoginResult(status)
    assert user.password_hash is not None  # verify_password is False without a hash
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    if user.has_totp:
        token = _open_session(session, settings, user, client_ip, user_agent, mfa_pending=True)
        return LoginResult(LoginStatus.MFA_REQUIRED, token=token, user=user)
    token = _open_session(session, settings, user, client_ip, user_agent, mfa_pending=False)
    _logged_in(session, user, client_ip)
    return LoginResult(LoginStatus.OK, token=token, user=user)


def password_user(
    session: Session, *, settings: Settings, email: str, password: str, client_ip: str | None
) -> User | None:
    """The user an e-mail address and password name (HTTP Basic for TAXII clients), with the
    same throttling and audit as the log-in page. An account with a second factor cannot
    authenticate this way: its tools use an API key."""
    email = email.strip().lower()
    _, user = _verified(
        session, settings=settings, email=email, password=password, client_ip=client_ip, basic=True
    )
    return user


def _logged_in(session: Session, user: User, ip: str | None) -> None:
    user.last_login_at = utcnow()
    record(
        session,
        actor=Actor(via=Via.SESSION, user=user, client_ip=ip),
        action=AuditAction.LOGIN,
        object_type="user",
        object_id=user.id,
        object_org_id=user.organisation_id,
    )


def _open_session(
    session: Session,
    settings: Settings,
    user: User,
    ip: str | None,
    user_agent: str | None,
    *,
    mfa_pending: bool,
) -> str:
    token = new_token(32)
    now = utcnow()
    lifetime = (
        timedelta(minutes=MFA_STEP_MINUTES)
        if mfa_pending
        else timedelta(hours=settings.session_max_age_hours)
    )
    session.add(
        WebSession(
            id=hash_token(token),
            user_id=user.id,
            mfa_pending=mfa_pending,
            created_at=now,
            last_seen_at=now,
            expires_at=now + lifetime,
            client_ip=ip,
            user_agent=(user_agent or "")[:300] or None,
        )
    )
    return token


def resolve_session(session: Session, *, settings: Settings, token: str) -> WebSession | None:
    """The live session a cookie names, or None if it expired, idled out or was ended."""
    web_session = session.get(WebSession, hash_token(token))
    if web_session is None:
        return None
    now = utcnow()
    idle_limit = web_session.last_seen_at + timedelta(minutes=settings.session_idle_minutes)
    if web_session.expires_at <= now or idle_limit <= now or not web_session.user.active:
        session.delete(web_session)
        return None
    if now - web_session.last_seen_at >= SEEN_UPDATE_INTERVAL:
        web_session.last_seen_at = now
    return web_session


def complete_mfa(
    session: Session, *, settings: Settings, web_session: WebSession, code: str
) -> LoginResult:
    """Check the second factor of an MFA-pending session; on success replace it by a full one."""
    user = web_session.user
    ip = web_session.client_ip
    if is_throttled(session, settings=settings, email=user.email, ip=ip):
        record(
            session,
            actor=Actor(via=Via.SESSION, user=user, client_ip=ip),
            action=AuditAction.LOGIN_THROTTLED,
            object_type="user",
            object_id=user.id,
            object_org_id=user.organisation_id,
        )
        return LoginResult(LoginStatus.THROTTLED)
    if user.totp_secret is None or not _accept_totp(user, user.totp_secret, code):
        note_failure(session, _account_key(user.email), _ip_key(ip))
        record(
            session,
            actor=Actor(via=Via.SESSION, user=user, client_ip=ip),
            action=AuditAction.MFA_FAILED,
            object_type="user",
            object_id=user.id,
            object_org_id=user.organisation_id,
        )
        return LoginResult(LoginStatus.FAILED)
    user_agent = web_session.user_agent
    session.delete(web_session)
    token = _open_session(session, settings, user, ip, user_agent, mfa_pending=False)
    _logged_in(session, user, ip)
    return LoginResult(LoginStatus.OK, token=token, user=user)


def _accept_totp(user: User, secret: str, code: str) -> bool:
    """Verify a TOTP code within one step of drift, refusing any step already used."""
    code = "".join(ch for ch in code if ch.isdigit())
    if len(code) != 6:
        return False
    totp = pyotp.TOTP(secret)
    now = utcnow()
    for drift in (0, -1, 1):
        moment = now + timedelta(seconds=drift * totp.interval)
        if totp.verify(code, for_time=moment, valid_window=0):
            step = totp.timecode(moment)
            if user.totp_last_step is not None and step <= user.totp_last_step:
                return False
            user.totp_last_step = step
            return True
    return False


def end_session(session: Session, *, web_session: WebSession) -> None:
    """Log out: delete the session row so the cookie is worthless."""
    user = web_session.user
    record(
        session,
        actor=Actor(via=Via.SESSION, user=user, client_ip=web_session.client_ip),
        action=AuditAction.LOGOUT,
        object_type="user",
        object_id=user.id,
        object_org_id=user.organisation_id,
    )
    session.delete(web_session)


def end_all_sessions(session: Session, *, user: User) -> None:
    """End every session of a user (password change, deactivation)."""
    session.execute(delete(WebSession).where(WebSession.user_id == user.id))


def begin_totp(session: Session, *, actor: Actor) -> str:
    """Start enrolling a second factor: a new secret, pending until a code confirms it."""
    assert actor.user is not None  # pages that call this require a signed-in user
    if actor.user.has_totp:
        # Replacing the factor would bypass the password that turning it off asks for.
        raise ValidationFailed.one("password", "two-step verification is on; turn it off first")
    secret = pyotp.random_base32()
    actor.user.totp_pending_secret = secret
    return secret


def totp_uri(user: User, secret: str, issuer: str) -> str:
    """The otpauth:// URI an authenticator app scans."""
    return pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=issuer)


def confirm_totp(session: Session, *, actor: Actor, code: str) -> None:
    """Turn the second factor on once the user proves the app produces codes."""
    user = actor.user
    assert user is not None  # pages that call this require a signed-in user
    if user.totp_pending_secret is None:
        raise ValidationFailed.one("code", "start the set-up again: no pending secret")
    if not _accept_totp(user, user.totp_pending_secret, code):
        raise ValidationFailed.one("code", "this code does not match; check the app's clock")
    user.totp_secret = user.totp_pending_secret
    user.totp_pending_secret = None
    record(
        session,
        actor=actor,
        action=AuditAction.MFA_ENABLED,
        object_type="user",
        object_id=user.id,
        object_org_id=user.organisation_id,
    )


def disable_totp(session: Session, *, actor: Actor, password: str) -> None:
    """Turn the second factor off; asks for the password again."""
    user = actor.user
    assert user is not None  # pages that call this require a signed-in user
    if not verify_password(user.password_hash, password):
        raise ValidationFailed.one("password", "wrong password")
    user.totp_secret = None
    user.totp_pending_secret = None
    user.totp_last_step = None
    record(
        session,
        actor=actor,
        action=AuditAction.MFA_DISABLED,
        object_type="user",
        object_id=user.id,
        object_org_id=user.organisation_id,
    )


def change_password(
    session: Session, *, actor: Actor, settings: Settings, current: str, new: str
) -> None:
    """Change the acting user's password; other sessions end."""
    user = actor.user
    assert user is not None  # pages that call this require a signed-in user
    if not verify_password(user.password_hash, current):
        raise ValidationFailed.one("current_password", "wrong password")
    _set_password(session, settings=settings, user=user, password=new, loc="new_password")
    record(
        session,
        actor=actor,
        action=AuditAction.PASSWORD_CHANGED,
        object_type="user",
        object_id=user.id,
        object_org_id=user.organisation_id,
    )


def _set_password(
    session: Session, *, settings: Settings, user: User, password: str, loc: str
) -> None:
    check_password_policy(
        password, email=user.email, min_length=settings.password_min_length, loc=loc
    )
    user.password_hash = hash_password(password)
    user.password_changed_at = utcnow()
    end_all_sessions(session, user=user)
    # Links sent before the change must not set the password again behind the user's back.
    session.execute(
        update(PasswordReset)
        .where(PasswordReset.user_id == user.id, PasswordReset.used_at.is_(None))
        .values(used_at=user.password_changed_at)
    )


def issue_password_link(
    session: Session, *, settings: Settings, user: User, invitation: bool = False
) -> None:
    """E-mail a one-time link to choose a password (a reset, or an invitation)."""
    token = new_token(32)
    lifetime = (
        timedelta(days=INVITATION_DAYS)
        if invitation
        else timedelta(minutes=settings.password_reset_minutes)
    )
    reset = PasswordReset(
        id=uuid.uuid4(),
        user_id=user.id,
        token_hash=hash_token(token),
        expires_at=utcnow() + lifetime,
    )
    session.add(reset)
    subject, text = render_mail(
        "accounts/mail/password_link.txt",
        settings=settings,
        user=user,
        invitation=invitation,
        link=f"{settings.base_url}/password-reset/{token}",
        expires_at=reset.expires_at,
    )
    enqueue_email(
        session,
        settings=settings,
        to=user.email,
        subject=subject,
        text=text,
        subject_type="user",
        subject_id=user.id,
    )


def request_password_reset(
    session: Session, *, settings: Settings, email: str, client_ip: str | None
) -> None:
    """Send a reset link if the address belongs to an active user; say nothing either way."""
    email = email.strip().lower()
    since = utcnow() - timedelta(minutes=settings.login_window_minutes)
    key = f"reset:{email}"
    if failures_since(session, key, since) >= 3:
        return  # at most three links per window: the mailbox is not ours to flood
    note_failure(session, key)
    user = session.scalar(select(User).where(User.email == email, User.active.is_(True)))
    if user is None:
        return
    issue_password_link(session, settings=settings, user=user)
    record(
        session,
        actor=_anonymous(client_ip),
        action=AuditAction.PASSWORD_RESET_REQUESTED,
        actor_label=email,
        object_type="user",
        object_id=user.id,
        object_org_id=user.organisation_id,
    )


def find_password_reset(session: Session, *, token: str) -> PasswordReset | None:
    """The unused, unexpired reset a link names, for an active user."""
    reset = session.scalar(
        select(PasswordReset)
        .join(User, User.id == PasswordReset.user_id)
        .where(PasswordReset.token_hash == hash_token(token), User.active.is_(True))
    )
    if reset is None or reset.used_at is not None or reset.expires_at <= utcnow():
        return None
    return reset


def complete_password_reset(
    session: Session, *, settings: Settings, token: str, password: str, client_ip: str | None
) -> User:
    """Set a new password from a reset link; the link then stops working."""
    reset = find_password_reset(session, token=token)
    if reset is None:
        raise ValidationFailed.one("token", "this link is invalid, used or expired")
    user = session.get(User, reset.user_id)
    if user is None or not user.active:
        raise ValidationFailed.one("token", "this link is invalid, used or expired")
    _set_password(session, settings=settings, user=user, password=password, loc="password")
    reset.used_at = utcnow()
    record(
        session,
        actor=Actor(via=Via.SESSION, user=user, client_ip=client_ip),
        action=AuditAction.PASSWORD_RESET,
        object_type="user",
        object_id=user.id,
        object_org_id=user.organisation_id,
    )
    return user


def purge_expired(session: Session) -> int:
    """Delete expired sessions and old failure records; return how many rows went."""
    now = utcnow()
    sessions = session.execute(delete(WebSession).where(WebSession.expires_at <= now))
    failures = session.execute(
        delete(LoginFailure).where(LoginFailure.at < now - timedelta(days=1))
    )
    return sum(int(getattr(result, "rowcount", 0) or 0) for result in (sessions, failures))
