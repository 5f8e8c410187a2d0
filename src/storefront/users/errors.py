"""The errors of the users domain: what a client is told about accounts."""

from __future__ import annotations

from storefront.core.errors import Conflict, Forbidden, NotFound, Unauthorized


class NotAuthenticated(Unauthorized):
    message = "Not authenticated"


class AccessTokenRefused(Unauthorized):
    message = "Invalid or expired access token"


class AdminRequired(Forbidden):
    message = "Administrator role required"


class WrongPassword(Forbidden):
    """The `current_password` given is wrong."""

    code, message = "WRONG_PASSWORD", "The current password is wrong"


class UserNotFound(NotFound):
    message = "User not found"


class EmailTaken(Conflict):
    """An account with this e-mail address exists (addresses compare case-insensitively)."""

    code, message = "EMAIL_TAKEN", "An account with this e-mail address already exists"


class PasswordChangedMeanwhile(Conflict):
    message = "The password was changed by another request meanwhile; try again"


class SelfDemotion(Conflict):
    message = "Administrators cannot demote or disable themselves"


class LastAdmin(Conflict):
    message = "The last active administrator cannot be removed, demoted or disabled"
