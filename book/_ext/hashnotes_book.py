"""Small Sphinx fixes for the built pages (loaded through _config.yml ``sphinx.local_extensions``).

- Each page declares sphinx-thebe's configuration script once: the same inline script was added twice per
  page, and the second ``const THEBE_JS_URL`` raised a SyntaxError in every reader's console.
- ``{repo}`path``` links a repository file (e.g. ``{repo}`experiments/cauchy_sweep.py```) under the one
  repository URL and branch of _config.yml (``repository.url``, ``repository.branch``).
- ipywidgets' embedder calls MathJax 2's ``MathJax.Hub.Queue``; the book runs MathJax 3, so a shim
  (``_static/hashnotes-mathjax-hub.js``, deferred after MathJax) maps it onto ``typesetPromise``.
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


def _repo_role(name, rawtext, text, lineno, inliner, options=None, content=None):
    from docutils import nodes

    config = inliner.document.settings.env.config
    theme = config.html_theme_options or {}
    base = str(theme.get("repository_url") or "").rstrip("/")
    branch = theme.get("repository_branch") or "main"
    path = text.strip().lstrip("/")
    if not base:
        msg = inliner.reporter.error("{repo}: no repository.url in _config.yml", line=lineno)
        return [inliner.problematic(rawtext, rawtext, msg)], [msg]
    kind = "tree" if path.endswith("/") or "." not in path.rsplit("/", 1)[-1] else "blob"
    node = nodes.reference(rawtext, "", refuri=f"{base}/{kind}/{branch}/{path}")
    node += nodes.literal(path, path)
    return [node], []


def setup(app):
    app.add_role("repo", _repo_role)
    app.add_js_file("hashnotes-mathjax-hub.js", priority=510, defer="defer")
    app.connect("html-page-context", _page_context)
    return {"parallel_read_safe": True, "parallel_write_safe": True}

