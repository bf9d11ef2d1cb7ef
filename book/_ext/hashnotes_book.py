"""Small Sphinx fixes for the built pages (loaded through _config.yml ``sphinx.local_extensions``).

- Each page declares sphinx-thebe's configuration script once: the same inline script was added twice per
  page, and the second ``const THEBE_JS_URL`` raised a SyntaxError in every reader's console.
- The theme starts in light mode: without a default mode the theme logged "Got invalid theme mode" as a
  console error on the first page a reader opened.
"""
from __future__ import annotations


def _page_context(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, unique = set(), []
    for js in scripts:
        attrs = getattr(js, "attributes", {}) or {}
        key = (str(getattr(js, "filename", js) or ""), tuple(sorted((k, str(v)) for k, v in attrs.items())))
        if key in seen:
            continue
        seen.add(key)
        unique.append(js)
    context["script_files"] = unique
    context.setdefault("default_mode", "light")


def setup(app):
    app.connect("html-page-context", _page_context)
    return {"parallel_read_safe": True, "parallel_write_safe": True}

