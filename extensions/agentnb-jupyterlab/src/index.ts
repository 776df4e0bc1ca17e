/**
 * agentnb-jupyterlab: the browser half of agentnb's per-block "Copy" and "Insert below" buttons.
 *
 * The chat panel (an ipywidgets view, or the static page a finished chat becomes) renders every
 * code block as `<div class="agentnb-snippet">` holding a `<pre class="agentnb-code"><code>`, and
 * nothing more: 500 messages must stay small in the kernel. This plugin adds the two buttons to a
 * block only when a person comes to it — the pointer enters it, a finger touches it, or the keyboard
 * focuses it (Tab near a chat makes its blocks focusable) — with delegated listeners on the
 * document: no observer, no work while tokens stream. It then acts on their clicks:
 *
 * - copy: writes the block's text to the clipboard;
 * - insert-below: inserts a new code cell with the block's text right under the notebook cell
 *   whose output holds the button, makes it the active cell and scrolls to it.
 *
 * Blocks are found by class (an untrusted notebook's sanitizer keeps classes, drops `data-*` and
 * `tabindex`). The code is the text the person sees (`textContent` of the block), so characters
 * agentnb shows as visible marks (control, bidi, zero-width) reach the notebook as those marks,
 * never raw. Blocks inside the agents' own HTML output get no buttons and are never acted on.
 * Without this extension (VS Code, Voilà, nbviewer) blocks simply have no buttons.
 */
import { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';

const VERSION = '0.2.0';
const FEEDBACK_MS = 1600;
const SNIPPET = '.agentnb-snippet';
const BOX = 'agentnb-snippet-actions';
/** `[action, label, tooltip]` of each button, in tab order. */
const BUTTONS: ReadonlyArray<readonly [string, string, string]> = [
  ['copy', 'Copy', 'copy this code to the clipboard'],
  ['insert-below', 'Insert below', 'insert this code as a new cell below this one in your notebook']
];
const ACTIONS = BUTTONS.map(([action]) => action);

/** The button's action: its data attribute, or its class where a sanitizer dropped `data-*` (untrusted output). */
function actionOf(button: HTMLElement): string | undefined {
  return button.dataset.agentnbAction ?? ACTIONS.find(a => button.classList.contains(`agentnb-action-${a}`));
}

/**
 * Where the agents' own code put raw HTML (its `text/html` outputs: an Output widget in the live
 * panel, `.agentnb-html` on the static page). Buttons there are not agentnb's and are ignored, so
 * code the agents ran cannot fake a block whose insert puts something else into the notebook.
 */
const FOREIGN = '.widget-output, .jupyter-widgets-output-area, .agentnb-html';

/** agentnb's block holding `node` (its `<pre class="agentnb-code">` a direct child), unless it sits in FOREIGN. */
function snippetOf(node: EventTarget | null): HTMLElement | null {
  const block = node instanceof Element ? node.closest<HTMLElement>(SNIPPET) : null;
  if (!block || !block.querySelector(':scope > pre.agentnb-code > code') || block.closest(FOREIGN)) {
    return null;
  }
  return block;
}

/** Give `block` its Copy / Insert below buttons (once: a re-rendered block is new and gets them again). */
function addButtons(block: HTMLElement): void {
  if (block.querySelector(`:scope > .${BOX}`)) {
    return;
  }
  const box = document.createElement('div');
  box.className = BOX;
  for (const [action, label, tip] of BUTTONS) {
    const button = document.createElement('button');
    button.type = 'button';
    button.className = `agentnb-snippet-action agentnb-action-${action}`;
    button.dataset.agentnbAction = action;
    button.title = tip;
    button.textContent = label;
    box.appendChild(button);
  }
  block.prepend(box); // before the code: Tab goes block, Copy, Insert below
}

/**
 * Make the blocks in the notebook cell around `node` reachable by Tab. Called as focus moves
 * within a cell and on each Tab key (before the browser moves focus), so blocks a stream just
 * re-rendered are reachable too; blocks in FOREIGN stay out of the tab order.
 */
function makeFocusable(node: EventTarget | null): void {
  const cell = node instanceof Element ? node.closest('.jp-Cell') : null;
  for (const block of cell?.querySelectorAll<HTMLElement>(`${SNIPPET}:not([tabindex])`) ?? []) {
    if (!block.closest(FOREIGN)) {
      block.tabIndex = 0;
    }
  }
}

/** The code shown in the block that holds `button`, without the trailing newline of a `<pre>`. */
function blockCode(button: HTMLElement): string | null {
  const block = snippetOf(button);
  const shown = block?.querySelector(':scope > pre.agentnb-code > code');
  if (!block || !shown) {
    return null;
  }
  const text = shown.textContent ?? '';
  return text.endsWith('\n') ? text.slice(0, -1) : text;
}

/** The notebook and cell index whose output holds `node` (else the active cell of the current notebook). */
function hostCell(tracker: INotebookTracker, node: HTMLElement): [NotebookPanel, number] | null {
  const panel = tracker.find(p => p.node.contains(node));
  if (panel) {
    const index = panel.content.widgets.findIndex(cell => cell.node.contains(node));
    if (index >= 0) {
      return [panel, index];
    }
  }
  const current = tracker.currentWidget;
  if (current && current.content.activeCellIndex >= 0) {
    return [current, current.content.activeCellIndex];
  }
  return null;
}

async function insertBelow(tracker: INotebookTracker, button: HTMLElement, code: string): Promise<boolean> {
  const host = hostCell(tracker, button);
  const model = host?.[0].content.model;
  if (!host || !model) {
    return false;
  }
  const [panel, index] = host;
  const notebook = panel.content;
  model.sharedModel.insertCell(index + 1, { cell_type: 'code', source: code, metadata: {} });
  notebook.activeCellIndex = index + 1;
  notebook.mode = 'command';
  const cell = notebook.widgets[index + 1];
  if (cell) {
    await notebook.scrollToCell(cell);
  }
  return true;
}

async function copy(code: string): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(code);
    return true;
  } catch {
    // No clipboard API (insecure origin) or no permission: the selection-based way.
    const area = document.createElement('textarea');
    area.value = code;
    area.setAttribute('readonly', '');
    area.style.position = 'fixed';
    area.style.opacity = '0';
    document.body.appendChild(area);
    area.select();
    try {
      return document.execCommand('copy');
    } finally {
      area.remove();
    }
  }
}

/** Say on the button what happened, then put its label back. */
function feedback(button: HTMLElement, ok: boolean, done: string): void {
  const label = button.dataset.agentnbLabel ?? button.textContent ?? '';
  button.dataset.agentnbLabel = label;
  button.textContent = ok ? done : 'failed';
  button.dataset.agentnbDone = ok ? 'true' : 'false';
  window.setTimeout(() => {
    button.textContent = label;
    delete button.dataset.agentnbDone;
  }, FEEDBACK_MS);
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'agentnb-jupyterlab:code-actions',
  description: 'Copy and Insert-below buttons on agentnb code blocks.',
  autoStart: true,
  requires: [INotebookTracker],
  activate: (_app: JupyterFrontEnd, tracker: INotebookTracker): void => {
    document.body.dataset.agentnbFrontend = VERSION;
    const arrive = (event: Event): void => {
      const block = snippetOf(event.target);
      if (block) {
        addButtons(block);
      }
    };
    document.addEventListener('mouseover', arrive, { passive: true });
    document.addEventListener('pointerdown', arrive, { capture: true, passive: true });
    document.addEventListener('focusin', (event: FocusEvent) => {
      arrive(event);
      makeFocusable(event.target);
    });
    window.addEventListener(
      'keydown',
      (event: KeyboardEvent) => {
        if (event.key === 'Tab') {
          makeFocusable(document.activeElement);
        }
      },
      true
    );
    document.addEventListener(
      'click',
      (event: MouseEvent) => {
        const target = event.target as HTMLElement | null;
        const button = target?.closest?.('[data-agentnb-action], .agentnb-snippet-action') as HTMLElement | null;
        if (!button) {
          return;
        }
        const action = actionOf(button);
        const code = blockCode(button);
        if (code === null || action === undefined) {
          return;
        }
        event.preventDefault();
        event.stopPropagation();
        const work = action === 'copy' ? copy(code) : insertBelow(tracker, button, code);
        void work.then(
          ok => feedback(button, ok, action === 'copy' ? 'Copied ✓' : 'Inserted ✓'),
          () => feedback(button, false, '')
        );
      },
      true
    );
  }
};

export default plugin;
