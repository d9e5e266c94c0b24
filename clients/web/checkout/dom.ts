// The few DOM helpers the checkout needs (no framework: the page must stay small).

type Attrs = Record<string, string | number | boolean>;

// h("input", {id: "x", "aria-describedby": "x-error"}, ...children)
export function h(tag: string, attrs: Attrs = {}, ...children: (Node | string)[]): HTMLElement {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (name.includes("-") || !(name in el)) {
      el.setAttribute(name, String(value));
    } else {
      (el as unknown as Record<string, unknown>)[name] = value;
    }
  }
  for (const child of children) if (child !== "") el.append(child);
  return el;
}

export function show(el: HTMLElement, visible: boolean): void {
  el.hidden = !visible;
}

// A field's message: shown under it, announced (aria-live), and the field marked invalid.
export function setError(input: HTMLInputElement, error: HTMLElement, message: string): void {
  if (error.textContent !== message) error.textContent = message;
  input.setAttribute("aria-invalid", message ? "true" : "false");
}
