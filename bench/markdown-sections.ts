// Writes a freshly rendered report into the BENCHMARKS.md already there, section by section (`## ` headings): a fresh
// section replaces the one of the same title, a new one goes after the fresh section before it, and sections the run
// did not render stay as they were. A run of some scenarios without bench/results/latest.json (a fresh clone, where
// that file is not kept) then leaves the other scenarios' figures in place instead of dropping them.

interface Section {
  title: string;
  text: string;
}

function split(markdown: string): { head: string; sections: Section[] } {
  const [head = '', ...rest] = markdown.split(/^(?=## )/m);
  return {
    head: head.trimEnd(),
    sections: rest.map((text) => ({ title: text.slice(3, text.indexOf('\n')).trim(), text: text.trimEnd() })),
  };
}

export function mergeSections(existing: string, fresh: string): string {
  const old = split(existing);
  const next = split(fresh);
  const sections = [...old.sections];
  let after = -1;
  for (const section of next.sections) {
    const at = sections.findIndex((kept) => kept.title === section.title);
    if (at >= 0) {
      sections[at] = section;
      after = at;
    } else {
      after = after >= 0 ? after + 1 : sections.length;
      sections.splice(after, 0, section);
    }
  }
  return `${[next.head, ...sections.map((section) => section.text)].join('\n\n')}\n`;
}
