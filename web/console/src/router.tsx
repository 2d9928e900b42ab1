// Client-side routing with the history API: `/` (home) and `/calls/<Call-ID>` (a call's page).

import type { ComponentChildren } from 'preact';
import { useEffect, useState } from 'preact/hooks';

export type Route = { page: 'home' } | { page: 'call'; callId: string } | { page: 'missing'; path: string };

export function parseRoute(pathname: string): Route {
  if (pathname === '/' || pathname === '') return { page: 'home' };
  const m = /^\/calls\/([^/]+)\/?$/.exec(pathname);
  if (m) {
    try {
      return { page: 'call', callId: decodeURIComponent(m[1]!) };
    } catch {
      /* a bad %-escape */
    }
  }
  return { page: 'missing', path: pathname };
}

export function callHref(callId: string): string {
  return `/calls/${encodeURIComponent(callId)}`;
}

const NAVIGATED = 'switchboard:navigate';

export function navigate(href: string): void {
  if (href === location.pathname + location.search) return;
  history.pushState(null, '', href);
  window.dispatchEvent(new Event(NAVIGATED));
  window.scrollTo(0, 0);
}

/** The current route, following pushState (navigate) and the back/forward buttons. */
export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.pathname));
  useEffect(() => {
    const update = (): void => setRoute(parseRoute(location.pathname));
    window.addEventListener('popstate', update);
    window.addEventListener(NAVIGATED, update);
    return () => {
      window.removeEventListener('popstate', update);
      window.removeEventListener(NAVIGATED, update);
    };
  }, []);
  return route;
}

/** A link that navigates without reloading (a modified click still opens a new tab). */
export function Link(props: { href: string; class?: string; title?: string; children: ComponentChildren }) {
  return (
    <a
      href={props.href}
      class={props.class}
      title={props.title}
      onClick={(e) => {
        if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
        e.preventDefault();
        e.stopPropagation();
        navigate(props.href);
      }}
    >
      {props.children}
    </a>
  );
}
