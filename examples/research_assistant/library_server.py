"""A small MCP server over stdio: a library of research notes to search and read.

The research assistant starts it (``python library_server.py``); any MCP host can too.
Its notes are built in, so it works offline; yours would search a real index.
"""

from __future__ import annotations

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

NOTES: dict[str, tuple[str, int, str]] = {
    "N1": (
        "Heat pumps in cold climates",
        2023,
        "Field data from Norway and Canada: air-source heat pumps keep a seasonal COP "
        "of 2.5 to 3 down to -15 C; below -25 C most need resistive backup.",
    ),
    "N2": (
        "Ground-source versus air-source",
        2022,
        "Ground-source systems hold a COP near 4 all winter but cost two to three times "
        "as much to install; payback is 8 to 12 years in Nordic prices.",
    ),
    "N3": (
        "Home batteries and rooftop solar",
        2024,
        "A 10 kWh battery raises a household's own use of its solar power from about 30% "
        "to 60-70%; most of the gain comes from the first 5 kWh.",
    ),
    "N4": (
        "Refrigerants for heat pumps",
        2024,
        "Propane (R290) heat pumps reach 70 C flow temperatures, enough for old radiators, "
        "with a global warming potential of 3 against R410A's 2,088.",
    ),
}

library = MCPServer("library")


@library.tool()
def search(query: str) -> str:
    """Search the library's notes: the id, title and year of each note matching a word.

    Args:
        query: Words to look for, such as "heat pump winter".
    """
    words = {w for w in query.lower().split() if len(w) > 2}
    hits = []
    for note_id, (title, year, text) in NOTES.items():
        haystack = f"{title} {text}".lower()
        if any(word.rstrip("s") in haystack for word in words):
            hits.append(f"{note_id}: {title} ({year})")
    return "\n".join(hits) or "No note matches: try other words."


@library.tool()
def read(note_id: str) -> str:
    """Read one note in full.

    Args:
        note_id: A note's id from search, such as N1.
    """
    if note_id not in NOTES:
        raise ToolError(f"no note {note_id!r}: use an id that search returned")
    title, year, text = NOTES[note_id]
    return f"{note_id}: {title} ({year}). {text}"


if __name__ == "__main__":
    library.run()
