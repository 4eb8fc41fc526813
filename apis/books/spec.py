from apis.spec import ApiSpec, PlanSpec

BOOKS = ApiSpec(
    slug="books",
    name="Books",
    version="v1",
    base_path="/api/books/v1/",
    description="A catalogue of books and their authors: search, read and edit.",
    scopes={
        "books:read": "Read books and authors.",
        "books:write": "Create, change and delete books and authors.",
    },
    plans=(
        PlanSpec(
            slug="starter",
            name="Starter",
            scopes=("books:read", "books:write"),
            rate_tiers=("10/s", "600/m"),
            monthly_quota=100_000,
            is_default=True,
            description="Free: read and write, 10 calls a second.",
        ),
        PlanSpec(
            slug="read-only",
            name="Read only",
            scopes=("books:read",),
            rate_tiers=("5/s", "300/m"),
            monthly_quota=50_000,
            description="Read access for dashboards and widgets.",
        ),
        PlanSpec(
            slug="business",
            name="Business",
            scopes=("books:read", "books:write"),
            rate_tiers=("50/s", "2000/m", "1000000/d"),
            monthly_quota=10_000_000,
            requires_approval=True,
            description="High volume; staff approve each subscription.",
        ),
    ),
)
