// kizuna web UI: a "Copy" button beside each block of JSON (the page works without it: select and copy).
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("pre[data-copy]").forEach(function (pre) {
    var button = document.createElement("button");
    button.type = "button";
    button.className = "copy";
    button.textContent = "Copy JSON";
    button.addEventListener("click", function () {
      if (!navigator.clipboard) { button.textContent = "Select the text to copy it"; return; }
      navigator.clipboard.writeText(pre.textContent).then(
        function () { button.textContent = "Copied"; },
        function () { button.textContent = "Select the text to copy it"; }
      );
    });
    pre.parentNode.insertBefore(button, pre);
  });
});
