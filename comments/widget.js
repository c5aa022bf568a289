// widget.js: the comment widget's reply form. Posts a reply to the JSON API,
// then re-reads the page with min_gen so the new post is in what it shows.
(function () {
  "use strict";
  var root = document.getElementById("widget");
  var thread = root.dataset.thread, order = root.dataset.order, page = root.dataset.page;
  var form = document.getElementById("reply");
  var author = document.getElementById("author");
  var message = document.getElementById("message");
  var parent = document.getElementById("parent");
  var status = document.getElementById("status");
  var submit = document.getElementById("submit");

  try { author.value = localStorage.getItem("comments.author") || ""; } catch (e) {}

  function el(tag, cls, text) {
    var n = document.createElement(tag);
    if (cls) n.className = cls;
    if (text !== undefined) n.textContent = text;
    return n;
  }

  function when(iso) {
    var d = new Date(iso), m = ["Jan","Feb","Mar","Apr","May","Jun","Jul","Aug","Sep","Oct","Nov","Dec"];
    function two(n) { return (n < 10 ? "0" : "") + n; }
    return d.getUTCDate() + " " + m[d.getUTCMonth()] + " " + d.getUTCFullYear() + " " + two(d.getUTCHours()) + ":" + two(d.getUTCMinutes());
  }

  // hue matches embed.go's: a colour per user name.
  function hue(name) {
    var h = 0;
    for (var ch of name) h = (h * 31 + ch.codePointAt(0)) % 360;
    return h;
  }

  function renderPost(p) {
    var name = (p.author && p.author.name) || "?";
    var li = el("li", "post");
    li.id = "post-" + p.id;
    li.dataset.id = p.id;
    li.dataset.author = name;
    var avatar = el("div", "avatar", name.charAt(0));
    avatar.style.background = "hsl(" + hue(name) + " 55% 45%)";
    li.appendChild(avatar);
    var body = el("div", "body"), meta = el("div", "meta");
    meta.appendChild(el("span", "author", name));
    var t = el("time", "", when(p.created));
    t.setAttribute("datetime", p.created);
    meta.appendChild(t);
    if (p.parent) meta.appendChild(el("span", "parent", "\u21aa reply to #" + p.parent));
    body.appendChild(meta);
    body.appendChild(el("div", "message", p.message));
    var actions = el("div", "actions"), a = el("a", "reply-link", "Reply");
    a.dataset.id = p.id;
    actions.appendChild(a);
    body.appendChild(actions);
    li.appendChild(body);
    return li;
  }

  function render(data) {
    var list = document.getElementById("posts");
    list.textContent = "";
    data.posts.forEach(function (p) { list.appendChild(renderPost(p)); });
    if (!data.posts.length) list.appendChild(el("li", "empty", "No comments yet. Be the first."));
    document.getElementById("count").textContent = data.thread.post_count + " comments";
  }

  function setParent(id, name) {
    parent.value = id || 0;
    document.getElementById("replying").hidden = !id;
    document.getElementById("replying-to").textContent = name || "";
    if (id) message.focus();
  }

  document.getElementById("posts").addEventListener("click", function (ev) {
    var a = ev.target.closest(".reply-link");
    if (!a) return;
    var li = a.closest(".post");
    setParent(a.dataset.id, li.dataset.author);
  });
  document.getElementById("cancel-reply").addEventListener("click", function () { setParent(0); });

  function json(r) {
    return r.json().then(function (body) {
      if (!r.ok) throw new Error(body.error || r.statusText);
      return body;
    });
  }

  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    submit.disabled = true;
    status.textContent = "Posting\u2026";
    try { localStorage.setItem("comments.author", author.value); } catch (e) {}
    fetch("/api/threads/" + thread + "/posts", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ author: author.value, message: message.value, parent: Number(parent.value) })
    }).then(json).then(function (reply) {
      message.value = "";
      setParent(0);
      status.textContent = reply.approved ? "Posted." : "Posted: awaiting moderation.";
      // The newest page shows the reply; min_gen makes the read see it even
      // if the cache still serves the thread as it was before the write.
      var p = order === "newest" ? 1 : page;
      return fetch("/api/threads/" + thread + "/posts?order=" + order + "&page=" + p + "&min_gen=" + reply.gen).then(json);
    }).then(render).catch(function (err) {
      status.textContent = "Could not post: " + err.message;
    }).finally(function () { submit.disabled = false; });
  });
})();
