"""The first-call snippets of the getting-started page: curl, Python, JavaScript.

They carry a key placeholder, never a key: a signed-in developer's snippets
name their app and show their key's public prefix (``gk_test_<lookup id>_…``)
where the full key goes, the one shown once when it was created.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

ANONYMOUS_KEY = "YOUR_API_KEY"


@dataclass(frozen=True)
class FirstCall:
    url: str  # absolute
    key_placeholder: str
    about: str  # one line: which app and key, or how to get one

    @property
    def curl(self) -> str:
        return (
            f"# {self.about}\n"
            f'curl -H "X-API-Key: {self.key_placeholder}" "{self.url}"\n'
        )

    @property
    def python(self) -> str:
        return (
            f"# {self.about}\n"
            "import requests\n"
            "\n"
            f"API_KEY = {json.dumps(self.key_placeholder, ensure_ascii=False)}\n"
            "\n"
            "response = requests.get(\n"
            f"    {json.dumps(self.url)},\n"
            '    headers={"X-API-Key": API_KEY},\n'
            "    timeout=10,\n"
            ")\n"
            "response.raise_for_status()\n"
            "print(response.json())\n"
        )

    @property
    def javascript(self) -> str:
        return (
            f"// {self.about}\n"
            f"const API_KEY = {json.dumps(self.key_placeholder, ensure_ascii=False)};\n"
            "\n"
            f"const response = await fetch({json.dumps(self.url)}, {{\n"
            '  headers: { "X-API-Key": API_KEY },\n'
            "});\n"
            "console.log(response.status, await response.json());\n"
        )


def one_line(text: str) -> str:
    """``text`` safe inside a shell, Python or JavaScript line comment."""
    return " ".join("".join(c if c.isprintable() else " " for c in text).split())
