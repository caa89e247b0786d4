/** pgcdc's console: a page per concern, chosen by the address's #hash. Built by scripts/build-console.mjs into console/dist. */
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import 'uplot/dist/uPlot.min.css';
import '../style.css';
import { OverviewPage } from './pages/overview.tsx';
import { EventsPage } from './pages/events.tsx';
import { DeadLettersPage } from './pages/dead-letters.tsx';
import { SnapshotsPage } from './pages/snapshots.tsx';
import { SlotsPage } from './pages/slots.tsx';

const PAGES = {
  overview: { title: 'Overview', page: OverviewPage },
  events: { title: 'Events', page: EventsPage },
  'dead-letters': { title: 'Dead letters', page: DeadLettersPage },
  snapshots: { title: 'Snapshots', page: SnapshotsPage },
  slots: { title: 'Slots', page: SlotsPage },
} as const;
type PageName = keyof typeof PAGES;

const current = (): PageName => {
  const name = location.hash.replace(/^#\/?/, '');
  return name in PAGES ? (name as PageName) : 'overview';
};

function App() {
  const [page, setPage] = useState<PageName>(current());
  useEffect(() => {
    const onHash = () => setPage(current());
    addEventListener('hashchange', onHash);
    onHash(); // the hash may have changed between the first render and this effect
    return () => removeEventListener('hashchange', onHash);
  }, []);
  const Page = PAGES[page].page;
  useEffect(() => { document.title = `${PAGES[page].title} · pgcdc`; }, [page]);
  return (
    <>
      <nav class="top">
        <span class="brand">pgcdc</span>
        {Object.entries(PAGES).map(([name, p]) => <a key={name} href={`#/${name}`} class={name === page ? 'active' : ''}>{p.title}</a>)}
      </nav>
      <main><Page /></main>
    </>
  );
}

render(<App />, document.getElementById('app')!);
