// Keeps the queue's countdowns current without reloading the page. The server renders the
// first state; this only moves the words and the colour on as time passes (every 30 s).
"use strict";
(function () {
  var LABELS = { on_time: "正常", due_soon: "即将到期", overdue: "已超时" };
  function span(ms) {
    var minutes = Math.floor(Math.abs(ms) / 60000);
    var days = Math.floor(minutes / 1440), hours = Math.floor((minutes % 1440) / 60);
    var mins = minutes % 60;
    if (days) return days + "天" + hours + "小时";
    if (hours) return hours + "小时" + mins + "分钟";
    return mins + "分钟";
  }
  function tick() {
    var now = Date.now();
    document.querySelectorAll("[data-due]").forEach(function (row) {
      var due = Date.parse(row.getAttribute("data-due"));
      var warn = row.hasAttribute("data-warn") ? Date.parse(row.getAttribute("data-warn")) : NaN;
      var state = now >= due ? "overdue" : (warn && now >= warn ? "due_soon" : "on_time");
      var left = row.querySelector(".countdown");
      if (left) left.textContent = (due > now ? "剩余 " : "已超时 ") + span(due - now);
      var badge = row.querySelector(".sla");
      if (badge && badge.getAttribute("data-state") !== state) {
        badge.className = "sla sla-" + state;
        badge.setAttribute("data-state", state);
        badge.textContent = LABELS[state];
      }
    });
  }
  if (document.querySelector("[data-due]")) setInterval(tick, 30000);
})();
