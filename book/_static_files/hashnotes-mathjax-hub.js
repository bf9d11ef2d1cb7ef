// The ipywidgets embedder typesets widget labels with MathJax 2's MathJax.Hub.Queue; the book loads MathJax 3,
// which has no Hub, so every drawn widget threw "Cannot read properties of undefined (reading 'Queue')".
// A deferred script after MathJax (hashnotes_book.py adds it) maps the call onto MathJax 3's typesetPromise.
(function () {
  if (!window.MathJax || window.MathJax.Hub) return;
  window.MathJax.Hub = {
    Queue: function () {
      for (var i = 0; i < arguments.length; i++) {
        var job = arguments[i];
        if (typeof job === "function") { job(); continue; }
        if (Array.isArray(job) && job[0] === "Typeset" && window.MathJax.typesetPromise) {
          var el = job[2];
          window.MathJax.typesetPromise(el ? [el] : undefined).catch(function (e) { console.warn(e); });
        }
      }
    }
  };
})();
