// widget.js: the comment widget. Signs the reader in with the site's signed
// login (data-sso) if there is one, posts replies to the JSON API, shows
// times in the reader's zone, and polls the thread's generation (one cache
// read) every few seconds, re-reading the page only when it changed.
(function () {
  "use strict";
  var root = document.getElementById("widget");
  var thread = root.dataset.thread, order = root.dataset.order, page = root.dataset.page, after = root.dataset.after;
  var gen = Number(root.dataset.gen), sso = root.dataset.sso;
  var poll = Number(new URLSearchParams(location.search).get("poll")) || 3000;
  var form = document.getElementById("reply");
  var author = document.getElementById("author");
  var message = document.getElementById("message");
  var parent = document.getElementById("parent");
  var status = document.getElementById("status");
  var submit = document.getElementById("submit");
  var session = null; // {session, user, moderator, exp} after a login

  try { author.value = localStorage.getItem("comments.author") || ""; } catch (e) {}

  function el(tag, cls, text) {
    var n = document.createElement(tag);
    if (cls) n.className = cls;
    if (text !== undefined) n.textContent = text;
    return n;
  }

  // localTimes shows every <time datetime> in the reader's own zone.
  function localTimes(scope) {
    scope.querySelectorAll("time[datetime]").forEach(function (t) {
      var d = new Date(t.getAttribute("datetime"));
      if (isNaN(d)) return;
      t.textContent = d.toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
      t.title = d.toString();
    });
  }

  // hue matches embed.go's: a colour per user name.
  function hue(name) {
    var h = 0;
    for (var ch of name) h = (h * 31 + ch.codePointAt(0)) % 360;
    return h;
  }

  function renderPost(p) {
    var name = (p.author && p.author.name) || "?";
    var li = el("li", "post d" + (p.depth || 0));
    li.id = "post-" + p.id;
    li.dataset.id = p.id;
    li.dataset.author = name;
    li.dataset.authorId = p.author_id;
    li.dataset.depth = p.depth || 0;
    var avatar = el("div", "avatar", name.charAt(0));
    avatar.style.background = "hsl(" + hue(name) + " 55% 45%)";
    li.appendChild(avatar);
    var body = el("div", "body"), meta = el("div", "meta");
    meta.appendChild(el("span", "author", name));
    if (p.author && p.author.guest) {
      var g = el("span", "guest", "guest");
      g.title = "not signed in: anyone can post under this name";
      meta.appendChild(g);
    }
    var t = el("time", "", p.created);
    t.setAttribute("datetime", p.created);
    meta.appendChild(t);
    if (p.parent) {
      var span = el("span", "parent", "\u21aa in reply to "), a = el("a", "", (p.parent_author && p.parent_author.name) || "a comment");
      a.href = p.depth ? "#post-" + p.parent : "/embed/" + thread + "/post/" + p.parent;
      span.appendChild(a);
      meta.appendChild(span);
    }
    if (p.edited) {
      var ed = el("span", "edited", "edited");
      ed.title = "edited " + p.edited;
      meta.appendChild(ed);
    }
    body.appendChild(meta);
    body.appendChild(el("div", "message", p.message));
    body.appendChild(actions(p.id, p.author_id));
    li.appendChild(body);
    return li;
  }

  // actions: Reply for everyone; Edit and Delete for the author or a moderator.
  function actions(id, authorId) {
    var box = el("div", "actions"), a = el("a", "reply-link", "Reply");
    a.dataset.id = id;
    box.appendChild(a);
    if (session && (session.moderator || String(session.user.id) === String(authorId))) {
      [["edit-link", "Edit"], ["delete-link", "Delete"]].forEach(function (x) {
        var l = el("a", x[0], x[1]);
        l.dataset.id = id;
        box.appendChild(document.createTextNode(" \u00b7 "));
        box.appendChild(l);
      });
    }
    return box;
  }

  function render(data) {
    var list = document.getElementById("posts");
    list.textContent = "";
    data.posts.forEach(function (p) { list.appendChild(renderPost(p)); });
    if (!data.posts.length) list.appendChild(el("li", "empty", "No comments yet. Be the first."));
    document.getElementById("count").textContent = data.thread.post_count + " comments";
    gen = Math.max(gen, data.thread.gen);
    localTimes(list);
  }

  function setParent(id, name) {
    parent.value = id || 0;
    document.getElementById("replying").hidden = !id;
    document.getElementById("replying-to").textContent = name || "";
    if (id) message.focus();
  }

  function json(r) {
    return r.json().then(function (body) {
      if (!r.ok) throw new Error(body.error || r.statusText);
      return body;
    });
  }

  function api(method, path, body) {
    var h = { "Content-Type": "application/json" };
    if (session) h.Authorization = "Bearer " + session.session;
    return fetch(path, { method: method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) }).then(json);
  }

  // reload re-reads the page shown (a new post goes to the newest order's
  // first page, so a writer there always sees it).
  function reload(minGen) {
    var at = after ? "&after=" + encodeURIComponent(after) : "&page=" + (order === "newest" && !after ? 1 : page);
    return api("GET", "/api/threads/" + thread + "/posts?order=" + order + at + "&min_gen=" + minGen).then(render);
  }

  document.getElementById("posts").addEventListener("click", function (ev) {
    var a = ev.target.closest(".reply-link, .edit-link, .delete-link");
    if (!a) return;
    var li = a.closest(".post"), id = a.dataset.id;
    if (a.classList.contains("reply-link")) return setParent(id, li.dataset.author);
    var done = function (p) { return reload(gen + 1); };
    if (a.classList.contains("delete-link")) {
      if (confirm("Delete this comment?")) api("DELETE", "/api/posts/" + id).then(done).catch(fail);
      return;
    }
    var text = prompt("Edit your comment", li.querySelector(".message").textContent);
    if (text) api("PATCH", "/api/posts/" + id, { message: text }).then(done).catch(fail);
  });
  document.getElementById("cancel-reply").addEventListener("click", function () { setParent(0); });

  function fail(err) { status.textContent = "Failed: " + err.message; }

  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    submit.disabled = true;
    status.textContent = "Posting\u2026";
    try { localStorage.setItem("comments.author", author.value); } catch (e) {}
    api("POST", "/api/threads/" + thread + "/posts", { author: author.value, message: message.value, parent: Number(parent.value) })
      .then(function (reply) {
        message.value = "";
        setParent(0);
        status.textContent = reply.approved ? "Posted." : "Posted: awaiting moderation.";
        // min_gen makes the read see the reply even if the cache still
        // serves the thread as it was before the write.
        return reload(reply.gen);
      }).catch(function (err) {
        status.textContent = "Could not post: " + err.message;
      }).finally(function () { submit.disabled = false; });
  });

  function signedIn(s) {
    session = s;
    document.getElementById("me").textContent = s.user.name + (s.moderator ? " (moderator)" : "");
    document.getElementById("signed-in").hidden = false;
    document.getElementById("guest-row").hidden = true;
    author.required = false;
    document.querySelectorAll("#posts .post").forEach(function (li) {
      li.querySelector(".actions").replaceWith(actions(li.dataset.id, li.dataset.authorId));
    });
  }

  // login exchanges the site's signed token for a session once; a reload
  // of the same page reuses the session (the token itself is single-use).
  function login() {
    if (!sso) return;
    var key = "comments.session:" + sso.slice(-43);
    try {
      var kept = JSON.parse(sessionStorage.getItem(key) || "null");
      if (kept && kept.exp * 1000 > Date.now()) return signedIn(kept);
    } catch (e) {}
    api("POST", "/api/login", { token: sso }).then(function (s) {
      try { sessionStorage.setItem(key, JSON.stringify(s)); } catch (e) {}
      signedIn(s);
    }).catch(function (err) { status.textContent = "Sign-in failed (" + err.message + "): posting as a guest."; });
  }

  // watch polls the thread (warm: one cache request, no query) and
  // re-reads the page only when its generation moved.
  function watch() {
    setTimeout(function () {
      if (document.hidden) return watch();
      api("GET", "/api/threads/" + thread).then(function (th) {
        if (th.gen > gen) return reload(th.gen);
      }).catch(function () {}).finally(watch);
    }, poll);
  }

  localTimes(document);
  login();
  watch();
})();
