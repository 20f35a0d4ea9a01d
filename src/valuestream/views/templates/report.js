// Draw every chart of the report from the specs inlined in the page (no network request).
(function () {
  "use strict";
  var specs = JSON.parse(document.getElementById("vs-specs").textContent);
  var options = {
    renderer: "svg",
    // Save as SVG or PNG from each chart's menu; no links to online editors.
    actions: { export: true, source: false, compiled: false, editor: false },
    downloadFileName: "chart",
  };
  var charts = document.querySelectorAll(".chart[data-chart]");
  var pending = [];
  charts.forEach(function (el) {
    var name = el.getAttribute("data-chart");
    var spec = specs[name];
    if (!spec) {
      el.textContent = "This chart could not be drawn.";
      el.classList.add("failed");
      return;
    }
    var opts = Object.assign({}, options, { downloadFileName: name });
    if (el.classList.contains("spark")) opts.actions = false;  // a tile's chart stays small
    pending.push(
      vegaEmbed(el, spec, opts).then(
        function () { el.classList.add("drawn"); },
        function (err) {
          el.textContent = "This chart could not be drawn: " + err;
          el.classList.add("failed");
        }
      )
    );
  });
  Promise.all(pending).then(function () {
    document.body.setAttribute("data-charts", "drawn");
  });
})();
