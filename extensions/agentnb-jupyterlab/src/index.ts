/**
 * agentnb-jupyterlab: the browser half of agentnb's per-block "Copy" and "Insert below" buttons.
 *
 * The chat panel (an ipywidgets view, or the static page a finished chat becomes) renders every
 * code block as `.agentnb-snippet` holding a `<pre><code>` and two buttons carrying
 * `data-agentnb-action="copy" | "insert-below"`. The kernel cannot create a cell in the user's
 * notebook, so this plugin listens for clicks on those buttons (one listener on the document) and:
 *
 * - copy: writes the block's text to the clipboard;
 * - insert-below: inserts a new code cell with the block's text right under the notebook cell
 *   whose output holds the button, makes it the active cell and scrolls to it.
 *
 * The code is the text the person sees (`textContent` of the block), so characters agentnb shows
 * as visible marks (control, bidi, zero-width) reach the notebook as those marks, never raw.
 * `document.body.dataset.agentnbFrontend` tells agentnb's CSS that the buttons work here
 * (elsewhere — VS Code, Voilà, nbviewer — they are hidden).
 */
import { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';

const VERSION = '0.1.0';
const FEEDBACK_MS = 1600;
const ACTIONS = ['copy', 'insert-below'];

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

/** The code shown in the block that holds `button`, without the trailing newline of a `<pre>`. */
function blockCode(button: HTMLElement): string | null {
  const block = button.closest('.agentnb-snippet');
  const shown = block?.querySelector('pre.agentnb-code > code');
  if (!block || !shown || block.closest(FOREIGN)) {
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
