"""The management API's OAuth scopes (no imports: the scopes backend reads it)."""

MANAGE_READ = "manage:read"
MANAGE_WRITE = "manage:write"
MANAGE_SCOPES = {
    MANAGE_READ: "Read your team's apps, keys, subscriptions and usage.",
    MANAGE_WRITE: "Create and change your team's apps, keys and subscriptions.",
}
