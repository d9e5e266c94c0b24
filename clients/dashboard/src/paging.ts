// Cursor paging over the API's lists (limit + starting_after, newest first): the cursors
// of the pages before this one are kept, so Previous needs no backwards cursor.

export interface Pager {
  // starting_after of each page seen so far; the current page's is the last.
  cursors: string[];
}

export const firstPage = (): Pager => ({ cursors: [""] });

export function cursorOf(pager: Pager): string {
  return pager.cursors[pager.cursors.length - 1];
}

export function pageNumber(pager: Pager): number {
  return pager.cursors.length;
}

// The next page starts after the last item of this one.
export function nextPage(pager: Pager, lastId: string | undefined): Pager {
  return lastId ? { cursors: [...pager.cursors, lastId] } : pager;
}

export function previousPage(pager: Pager): Pager {
  return pager.cursors.length > 1 ? { cursors: pager.cursors.slice(0, -1) } : pager;
}
