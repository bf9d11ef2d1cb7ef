// Loaded between require.js and the ipywidgets embedder (make.py lists it in nb_ipywidgets_js): the embedder
// finds its own files (the icon fonts of the widget controls) through RequireJS, relative to the page, which
// made them 404 on every page below the site root. Point RequireJS at the copy in _static/.
(function () {
  var root = document.documentElement.getAttribute("data-content_root") || "";
  if (window.require && typeof window.require.config === "function") {
    window.require.config({paths: {"@jupyter-widgets/html-manager/dist": root + "_static/html-manager/dist"}});
  }
})();
