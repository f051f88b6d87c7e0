/* The people picker (workbench/people.py): progressive enhancement of
   <input data-picker="people">. Without JavaScript the input takes typed userids or
   names; with it, the same input (now hidden) holds the chosen userids, shown as
   removable chips, found by name, pinyin, initials, userid or department, or, inside
   the WeCom client, with WeCom's own contact picker (wx.agentConfig +
   selectEnterpriseContact, developer.work.weixin.qq.com/document/path/94313, /98138).
   Keyboard: ↑/↓ move through the results, Enter adds, Esc closes, Backspace in an
   empty search removes the last chip. */
(function () {
  "use strict";
  if (window.wbPicker) return;
  window.wbPicker = true;
  var script = document.currentScript;
  var seq = 0;

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text != null) node.textContent = text;
    return node;
  }

  function getJSON(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.json().then(function (body) { if (!r.ok) throw new Error(body.error || r.status); return body; }); });
  }

  function split(value) { return (value || "").split(/[\s,，、;；]+/).filter(Boolean); }

  function Picker(input) {
    var self = this;
    this.input = input;
    this.multiple = input.dataset.multiple === "1";
    this.searchUrl = input.dataset.search;
    this.known = {};
    JSON.parse(input.dataset.chosen || "[]").forEach(function (p) { self.known[p.userid] = p; });
    this.ask = JSON.parse(input.dataset.ask || "{}");
    this.chosen = split(input.value);
    this.id = "wb-picker-" + (++seq);
    this.active = -1;
    this.options = [];

    this.box = el("div", { "class": "wb-picker", "data-test": "picker-" + input.name });
    this.chips = el("div", { "class": "wb-picker__chips", role: "list", "aria-label": "已选" });
    this.query = el("input", {
      type: "search", "class": "weui-input wb-picker__q", role: "combobox", autocomplete: "off",
      "aria-autocomplete": "list", "aria-expanded": "false", "aria-controls": this.id + "-list",
      placeholder: input.getAttribute("placeholder") || "输入姓名、拼音或账号搜索",
    });
    this.list = el("ul", { "class": "wb-picker__list", role: "listbox", id: this.id + "-list", hidden: "" });
    this.questions = el("div", { "class": "wb-picker__ask" });
    this.tools = el("div", { "class": "wb-picker__tools" });
    this.box.append(this.chips, this.questions, this.query, this.tools, this.list);
    // the field's <label for=id> now names the search box, which takes the id
    var fieldId = input.id;
    input.type = "hidden";
    input.removeAttribute("id");
    this.query.id = fieldId || this.id + "-q";
    input.after(this.box);

    if (input.dataset.departments) {
      var browse = el("button", { type: "button", "class": "weui-btn weui-btn_mini weui-btn_default", "data-test": "browse" }, "按部门选择");
      browse.addEventListener("click", function () { self.showTree(); });
      this.tools.append(browse);
    }
    if (/wxwork/i.test(navigator.userAgent)) {
      var wecom = el("button", { type: "button", "class": "weui-btn weui-btn_mini weui-btn_default" }, "从企业微信通讯录选择");
      wecom.addEventListener("click", function () { self.wecomPicker(); });
      this.tools.append(wecom);
    }

    // only the newest request may fill the list: a search typed a moment ago must not close or
    // overwrite the department tree the person has opened since (or an answer that came late)
    this.ticket = 0;
    this.query.addEventListener("input", function () {
      clearTimeout(self.timer);
      self.timer = setTimeout(function () { self.search(1); }, 180);
    });
    this.query.addEventListener("keydown", function (e) { self.key(e); });
    // text typed but not picked goes as typed, as without JavaScript: the server resolves it
    // (a unique name, a userid) or asks which one is meant
    if (input.form) input.form.addEventListener("submit", function () { self.keepTyped(); });
    this.render();
  }

  Picker.prototype.keepTyped = function () {
    var typed = split(this.query.value);
    if (!typed.length) return;
    if (!this.multiple) this.chosen = [];
    var self = this;
    typed.forEach(function (t) { if (self.chosen.indexOf(t) < 0) self.chosen.push(t); });
    this.query.value = "";
    this.sync();
  };

  Picker.prototype.sync = function () {
    this.input.value = this.chosen.join(" ");
  };

  Picker.prototype.render = function () {
    var self = this;
    this.chips.textContent = "";
    this.chosen.forEach(function (userid) {
      var person = self.known[userid];
      var unresolved = !person || self.ask[userid];
      var chip = el("span", { "class": "wb-chip" + (unresolved ? " wb-chip_warn" : ""), role: "listitem", "data-userid": userid },
        person ? person.name : userid);
      if (person && person.department) chip.title = person.label;
      var x = el("button", { type: "button", "class": "wb-chip__x", "aria-label": "移除 " + (person ? person.name : userid) }, "×");
      x.addEventListener("click", function () { self.remove(userid); self.query.focus(); });
      chip.append(x);
      self.chips.append(chip);
    });
    this.questions.textContent = "";
    Object.keys(this.ask).forEach(function (name) {
      if (self.chosen.indexOf(name) < 0) return;
      var row = el("div", { "class": "wb-picker__question", "data-test": "ask" }, "「" + name + "」有 " + self.ask[name].length + " 位，是哪一位？");
      self.ask[name].forEach(function (p) {
        var b = el("button", { type: "button", "class": "weui-btn weui-btn_mini weui-btn_default", "data-userid": p.userid }, p.label);
        b.addEventListener("click", function () {
          self.chosen.splice(self.chosen.indexOf(name), 1);
          self.add(p);
        });
        row.append(b);
      });
      self.questions.append(row);
    });
    this.sync();
  };

  Picker.prototype.add = function (person) {
    this.known[person.userid] = person;
    if (!this.multiple) this.chosen = [];
    if (this.chosen.indexOf(person.userid) < 0) this.chosen.push(person.userid);
    this.render();
  };

  Picker.prototype.remove = function (userid) {
    this.chosen = this.chosen.filter(function (u) { return u !== userid; });
    this.render();
  };

  Picker.prototype.close = function () {
    this.list.hidden = true;
    this.query.setAttribute("aria-expanded", "false");
    this.query.removeAttribute("aria-activedescendant");
    this.active = -1;
  };

  Picker.prototype.open = function () {
    this.list.hidden = false;
    this.query.setAttribute("aria-expanded", "true");
  };

  Picker.prototype.request = function () {
    clearTimeout(this.timer);
    return ++this.ticket;
  };

  Picker.prototype.search = function (page, extra) {
    var self = this, ticket = this.request();
    var q = this.query.value.trim();
    if (!q && !extra) { this.close(); return; }
    var url = this.searchUrl + "?per_page=20&page=" + page + "&q=" + encodeURIComponent(q) + (extra || "");
    getJSON(url).then(function (found) { if (ticket === self.ticket) self.show(found, page, extra); })
      .catch(function (err) { if (ticket === self.ticket) self.message(String(err.message || err)); });
  };

  Picker.prototype.message = function (text) {
    this.list.textContent = "";
    this.list.append(el("li", { "class": "wb-picker__empty", role: "presentation" }, text));
    this.open();
  };

  Picker.prototype.show = function (found, page, extra) {
    var self = this;
    if (page === 1) { this.list.textContent = ""; this.options = []; }
    var more = this.list.querySelector(".wb-picker__more");
    if (more) more.remove();
    if (page === 1 && extra && this.multiple && found.total) {
      var all = el("li", { "class": "wb-picker__all", role: "presentation" });
      var addAll = el("button", { type: "button", "class": "weui-btn weui-btn_mini weui-btn_primary", "data-test": "add-all" },
        "全部添加（" + found.total + " 人）");
      addAll.addEventListener("click", function () { self.addAll(extra, found.total); });
      all.append(addAll);
      this.list.append(all);
    }
    (page === 1 ? found.departments || [] : []).forEach(function (d) {
      var li = el("li", { "class": "wb-picker__dept", role: "option", id: self.id + "-d" + d.id, "data-department": d.id },
        "部门：" + d.path);
      li.addEventListener("click", function () { self.openDepartment(d); });
      self.list.append(li);
      self.options.push(li);
    });
    found.people.forEach(function (p) {
      var li = el("li", { "class": "wb-picker__option", role: "option", id: self.id + "-u" + self.options.length, "data-userid": p.userid,
        "aria-selected": String(self.chosen.indexOf(p.userid) >= 0) });
      li.append(el("span", { "class": "wb-picker__name" }, p.name));
      li.append(el("span", { "class": "wb-muted" }, " " + [p.department, p.position].filter(Boolean).join(" · ") + " · " + p.userid));
      if (p.same_name > 1) li.append(el("span", { "class": "wb-badge wb-badge_orange" }, "同名 " + p.same_name));
      li.addEventListener("mousedown", function (e) { e.preventDefault(); });
      li.addEventListener("click", function () { self.pick(p); });
      li._person = p;
      self.list.append(li);
      self.options.push(li);
    });
    if (!this.options.length) this.list.append(el("li", { "class": "wb-picker__empty", role: "presentation" }, "没有找到：可输入姓名、拼音首字母、账号或部门"));
    if (found.has_next) {
      var li = el("li", { "class": "wb-picker__more", role: "presentation" });
      var b = el("button", { type: "button", "class": "weui-btn weui-btn_mini weui-btn_default" }, "更多（共 " + found.total + " 人）");
      b.addEventListener("click", function () { self.search(page + 1, extra); });
      li.append(b);
      this.list.append(li);
    }
    this.open();
  };

  Picker.prototype.pick = function (person) {
    this.add(person);
    if (!this.multiple) { this.query.value = ""; this.close(); }
    this.query.focus();
  };

  Picker.prototype.key = function (e) {
    var n = this.options.length;
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      if (!n) return;
      e.preventDefault();
      this.open();
      this.active = (this.active + (e.key === "ArrowDown" ? 1 : n - 1)) % n;
      var self = this;
      this.options.forEach(function (o, i) { o.classList.toggle("wb-picker__option_active", i === self.active); });
      this.query.setAttribute("aria-activedescendant", this.options[this.active].id);
      this.options[this.active].scrollIntoView({ block: "nearest" });
    } else if (e.key === "Enter") {
      e.preventDefault();  // Enter in the search box picks; it never submits the form half-filled
      var option = this.options[this.active >= 0 ? this.active : 0];
      if (option && !this.list.hidden) option.click();
    } else if (e.key === "Escape") {
      this.close();
    } else if (e.key === "Backspace" && !this.query.value && this.chosen.length) {
      this.remove(this.chosen[this.chosen.length - 1]);
    }
  };

  Picker.prototype.showTree = function () {
    var self = this, ticket = this.request();
    getJSON(this.input.dataset.departments).then(function (tree) {
      if (ticket !== self.ticket) return;
      self.list.textContent = "";
      self.options = [];
      var sub = el("li", { "class": "wb-picker__sub", role: "presentation" });
      var box = el("input", { type: "checkbox", id: self.id + "-sub", "data-test": "include-sub" });
      box.checked = self.includeSub !== false;
      box.addEventListener("change", function () { self.includeSub = box.checked; });
      sub.append(box, el("label", { "for": self.id + "-sub" }, " 包含下级部门"));
      self.list.append(sub);
      tree.departments.forEach(function (d) {
        var li = el("li", { "class": "wb-picker__dept", role: "option", id: self.id + "-t" + d.id, "data-department": d.id,
          style: "padding-left:" + (0.8 + d.depth) + "em" }, d.name);
        li.addEventListener("click", function () { self.openDepartment(d); });
        self.list.append(li);
        self.options.push(li);
      });
      self.open();
      self.active = -1;
    }).catch(function (err) { self.message(String(err.message || err)); });
  };

  Picker.prototype.openDepartment = function (d) {
    this.query.value = "";
    this.search(1, "&department=" + d.id + "&sub=" + (this.includeSub === false ? "0" : "1"));
  };

  Picker.prototype.addAll = function (extra, total) {
    var self = this;
    var pages = Math.ceil(total / 50), done = 0;
    for (var page = 1; page <= pages; page++) {
      getJSON(this.searchUrl + "?per_page=50&page=" + page + extra).then(function (found) {
        found.people.forEach(function (p) {
          self.known[p.userid] = p;
          if (self.chosen.indexOf(p.userid) < 0) self.chosen.push(p.userid);
        });
        if (++done === pages) { self.render(); self.close(); self.query.focus(); }
      });
    }
  };

  /* Inside the WeCom client: WeCom's own picker; its user ids become the same chips. */
  Picker.prototype.wecomPicker = function () {
    var self = this;
    loadWeCom().then(function () {
      return getJSON(self.searchUrl.replace(/search$/, "agent-config") + "?url=" + encodeURIComponent(location.href.split("#")[0]));
    }).then(function (config) {
      window.wx.agentConfig({
        corpid: config.corpid, agentid: String(config.agentid), timestamp: config.timestamp,
        nonceStr: config.nonceStr, signature: config.signature, jsApiList: ["selectEnterpriseContact"],
        success: function () {
          window.wx.invoke("selectEnterpriseContact", {
            fromDepartmentId: -1, mode: self.multiple ? "multi" : "single", type: ["user"], selectedUserIds: self.chosen,
          }, function (res) {
            if (res.err_msg !== "selectEnterpriseContact:ok") return;
            var result = typeof res.result === "string" ? JSON.parse(res.result) : res.result;
            var ids = (result.userList || []).map(function (u) { return u.id; });
            getJSON(self.searchUrl.replace(/search$/, "lookup") + "?ids=" + encodeURIComponent(ids.join(","))).then(function (found) {
              self.chosen = [];
              found.people.forEach(function (p) { self.known[p.userid] = p; self.chosen.push(p.userid); });
              self.render();
            });
          });
        },
        fail: function () { self.message("无法打开企业微信通讯录，请直接搜索选择"); },
      });
    }).catch(function (err) { self.message(String(err.message || err)); });
  };

  var wecomLoading;
  function loadWeCom() {
    if (!wecomLoading) {
      wecomLoading = ["https://res.wx.qq.com/open/js/jweixin-1.2.0.js", "https://open.work.weixin.qq.com/wwopen/js/jwxwork-1.0.0.js"]
        .reduce(function (chain, src) {
          return chain.then(function () {
            return new Promise(function (resolve, reject) {
              var s = el("script", { src: src });
              s.onload = resolve;
              s.onerror = function () { reject(new Error("无法加载企业微信 JS-SDK，请直接搜索选择")); };
              document.head.append(s);
            });
          });
        }, Promise.resolve());
    }
    return wecomLoading;
  }

  function start() {
    if (script && !document.querySelector("link[data-picker-css]")) {
      var css = el("link", { rel: "stylesheet", href: script.src.replace(/wb-picker\.js.*$/, "wb-picker.css"), "data-picker-css": "" });
      document.head.append(css);
    }
    document.querySelectorAll('input[data-picker="people"]').forEach(function (input) { new Picker(input); });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
