/* The cookbook's command selector without a kernel.
 *
 * A port of kimi_cookbook.selector.render_command (and of LaunchSpec.to_shell and shlex.quote) to the browser.
 * Every fact it uses -- the option groups with the NVIDIA GPUs, each GPU's tp, environment and version-specific
 * flags, the Docker image per SGLang version -- is serialized from the Python modules by scripts/build_site.py
 * into the page's <script type="application/json" id="kimi-selector-data">. tests/test_site.py clicks through
 * every combination this page offers in headless Chromium and compares the printed text with render_command's.
 */
(function () {
  "use strict";

  // shlex.quote: safe words unchanged, anything else in single quotes
  function shellQuote(s) {
    if (s === "") return "''";
    if (!/[^\w@%+=:,./-]/.test(s)) return s;
    return "'" + s.replace(/'/g, "'\"'\"'") + "'";
  }

  // selector.initial_state: a group's default item, else its first; checkboxes list their defaults
  function initialState(options) {
    const state = {};
    for (const [key, option] of Object.entries(options)) {
      const items = option.items || [];
      if (option.type === "checkbox") {
        state[key] = items.filter((item) => item.default).map((item) => item.id);
        continue;
      }
      const def = items.find((item) => item.default);
      state[key] = def ? def.id : items.length ? items[0].id : "";
    }
    return state;
  }

  // LaunchSpec.to_shell: VAR=value prefix, then one quoted option per continued line
  function toShell(env, module, options) {
    const prefix = Object.entries(env).map(([k, v]) => `${k}=${shellQuote(v)} `).join("");
    const lines = [`${prefix}python3 -m ${module}`];
    for (const [flag, value] of options) {
      const f = shellQuote(flag);
      lines.push(value === null ? `  ${f}` : `  ${f} ${shellQuote(value)}`);
    }
    return lines.join(" \\\n");
  }

  // build_launch_command(hardware, model=..., tool_call_parser=..., reasoning_parser=..., sglang_version=...)
  function buildLaunchCommand(data, hardware, model, toolCallParser, reasoningParser, version) {
    const gpu = data.hardware[hardware];
    const options = [["--model-path", model], ["--tp", gpu.tp], ["--trust-remote-code", null]];
    if (toolCallParser) options.push(["--tool-call-parser", toolCallParser]);
    if (reasoningParser) options.push(["--reasoning-parser", reasoningParser]);
    const extras = gpu.extraArgs[version];
    for (let i = 0; i < extras.length; i += 2) {
      options.push([extras[i], i + 1 < extras.length ? extras[i + 1] : null]);
    }
    return toShell(gpu.env, data.module, options);
  }

  // render_command(values, sglang_version=version): the page's error text, or the launch command
  function renderCommand(data, values, version) {
    const state = Object.assign(initialState(data.options), values);
    if (state.modelname === "instruct" && state.reasoning === "enabled") return data.errorText;
    return buildLaunchCommand(
      data,
      state.hardware,
      data.modelMap[state.modelname],
      state.toolcall === "enabled" ? data.toolCallParser : null,
      state.reasoning === "enabled" ? data.reasoningParser : null,
      version,
    );
  }

  // docker.docker_pull(hardware, sglang_version=version)
  function dockerPull(data, hardware, version) {
    return "docker pull " + shellQuote(data.hardware[hardware].images[version]);
  }

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "text") node.textContent = v;
      else node.setAttribute(k, v);
    }
    for (const child of children || []) node.appendChild(child);
    return node;
  }

  function mount(root, data) {
    const groups = Object.assign({}, data.options, { [data.versionGroup.name]: data.versionGroup });
    const values = initialState(groups);
    const commandBox = el("pre", { class: "kimi-command", id: "kimi-command" });
    const dockerBox = el("pre", { class: "kimi-command kimi-docker", id: "kimi-docker" });

    function refresh() {
      const version = values[data.versionGroup.name];
      const pageValues = {};
      for (const key of Object.keys(data.options)) pageValues[key] = values[key];
      commandBox.textContent = renderCommand(data, pageValues, version);
      dockerBox.textContent = dockerPull(data, values.hardware, version);
      for (const label of root.querySelectorAll("label.kimi-item")) {
        const input = label.querySelector("input");
        label.classList.toggle("kimi-checked", input.checked);
      }
    }

    for (const [key, option] of Object.entries(groups)) {
      const items = el("div", { class: "kimi-items", role: option.type === "checkbox" ? "group" : "radiogroup",
        "aria-label": option.title });
      for (const item of option.items) {
        const checkbox = option.type === "checkbox";
        const input = el("input", { type: checkbox ? "checkbox" : "radio", name: `kimi-${key}`, value: item.id });
        input.checked = checkbox ? values[key].includes(item.id) : values[key] === item.id;
        if (checkbox && item.required) input.disabled = true;
        input.addEventListener("change", () => {
          if (checkbox) {
            values[key] = input.checked ? values[key].concat([item.id]) : values[key].filter((id) => id !== item.id);
          } else if (input.checked) {
            values[key] = item.id;
          }
          refresh();
        });
        const label = el("label", { class: "kimi-item", "data-group": key, "data-id": item.id,
          title: item.required ? "required" : "" }, [input, document.createTextNode(item.label)]);
        if (input.disabled) label.classList.add("kimi-disabled");
        items.appendChild(label);
      }
      root.appendChild(el("div", { class: "kimi-card", "data-group": key },
        [el("div", { class: "kimi-title", text: option.title }), items]));
    }
    root.appendChild(el("div", { class: "kimi-card" },
      [el("div", { class: "kimi-title", text: "Run this Command:" }), commandBox]));
    root.appendChild(el("div", { class: "kimi-card" },
      [el("div", { class: "kimi-title", text: "Docker image:" }), dockerBox]));
    refresh();
    root.setAttribute("data-ready", "true");
  }

  function start() {
    const root = document.getElementById("kimi-selector");
    const source = document.getElementById("kimi-selector-data");
    if (!root || !source) return;
    mount(root, JSON.parse(source.textContent));
  }

  window.kimiSelector = { shellQuote, initialState, renderCommand, dockerPull };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
