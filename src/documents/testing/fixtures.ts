/** Documents made at test time: EPUB (yazl), PDF (pdf-lib), and hostile ones of each. */

import { PDFDocument, PDFHexString, PDFName, PDFNull, PDFNumber, StandardFonts, type PDFRef } from 'pdf-lib';
import yazl from 'yazl';

function zipToBuffer(zip: yazl.ZipFile): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    zip.outputStream.on('data', (chunk: Buffer) => chunks.push(chunk));
    zip.outputStream.on('end', () => resolve(Buffer.concat(chunks)));
    zip.outputStream.on('error', reject);
    zip.end();
  });
}

export interface EpubChapter {
  file: string;
  /** Title in the navigation document. */
  navTitle?: string;
  body: string;
}

/** An EPUB 3 whose spine lists `chapters` in `spineOrder` (indexes; default their order), with a nav document. */
export async function makeEpub(chapters: EpubChapter[], options: { title?: string; spineOrder?: number[]; extra?: Array<{ name: string; data: Buffer }> } = {}): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  zip.addBuffer(Buffer.from('application/epub+zip'), 'mimetype', { compress: false });
  zip.addBuffer(
    Buffer.from(
      '<?xml version="1.0"?><container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container"><rootfiles><rootfile full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/></rootfiles></container>',
    ),
    'META-INF/container.xml',
  );
  const manifest = chapters.map((chapter, i) => `<item id="c${i}" href="${chapter.file}" media-type="application/xhtml+xml"/>`).join('');
  const spine = (options.spineOrder ?? chapters.map((_c, i) => i)).map((i) => `<itemref idref="c${i}"/>`).join('');
  zip.addBuffer(
    Buffer.from(
      `<?xml version="1.0"?><package xmlns="http://www.idpf.org/2007/opf" version="3.0"><metadata xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>${options.title ?? 'A Book'}</dc:title></metadata><manifest><item id="nav" href="nav.xhtml" properties="nav" media-type="application/xhtml+xml"/>${manifest}</manifest><spine><itemref idref="nav"/>${spine}</spine></package>`,
    ),
    'OEBPS/content.opf',
  );
  const navLinks = chapters
    .filter((chapter) => chapter.navTitle !== undefined)
    .map((chapter) => `<li><a href="${chapter.file}">${chapter.navTitle}</a></li>`)
    .join('');
  zip.addBuffer(Buffer.from(`<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml"><body><nav epub:type="toc"><ol>${navLinks}</ol></nav></body></html>`), 'OEBPS/nav.xhtml');
  for (const chapter of chapters) {
    zip.addBuffer(Buffer.from(`<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml"><head><title>x</title></head><body>${chapter.body}</body></html>`), `OEBPS/${chapter.file}`);
  }
  for (const entry of options.extra ?? []) zip.addBuffer(entry.data, entry.name);
  return await zipToBuffer(zip);
}

/** A PDF with one page per entry of `pages` (lines of text), an outline of `outline` (title, page index), and a claimed page count if given. */
export async function makePdf(pages: string[][], options: { outline?: Array<{ title: string; page: number }>; claimPages?: number; title?: string } = {}): Promise<Buffer> {
  const doc = await PDFDocument.create();
  if (options.title !== undefined) doc.setTitle(options.title);
  const font = await doc.embedFont(StandardFonts.Helvetica);
  const pageRefs: PDFRef[] = [];
  for (const lines of pages) {
    const page = doc.addPage([600, 800]);
    for (const [i, line] of lines.entries()) page.drawText(line, { x: 50, y: 750 - i * 20, size: 12, font });
    pageRefs.push(page.ref);
  }
  const outline = options.outline ?? [];
  if (outline.length > 0) {
    const context = doc.context;
    const outlinesRef = context.nextRef();
    const refs = outline.map(() => context.nextRef());
    outline.forEach((item, i) => {
      const dict = context.obj({});
      dict.set(PDFName.of('Title'), PDFHexString.fromText(item.title));
      dict.set(PDFName.of('Parent'), outlinesRef);
      dict.set(PDFName.of('Dest'), context.obj([pageRefs[item.page]!, PDFName.of('XYZ'), PDFNull, PDFNull, PDFNull]));
      if (i > 0) dict.set(PDFName.of('Prev'), refs[i - 1]!);
      if (i < refs.length - 1) dict.set(PDFName.of('Next'), refs[i + 1]!);
      context.assign(refs[i]!, dict);
    });
    const root = context.obj({});
    root.set(PDFName.of('Type'), PDFName.of('Outlines'));
    root.set(PDFName.of('First'), refs[0]!);
    root.set(PDFName.of('Last'), refs.at(-1)!);
    root.set(PDFName.of('Count'), PDFNumber.of(refs.length));
    context.assign(outlinesRef, root);
    doc.catalog.set(PDFName.of('Outlines'), outlinesRef);
  }
  if (options.claimPages !== undefined) doc.catalog.Pages().set(PDFName.of('Count'), PDFNumber.of(options.claimPages));
  return Buffer.from(await doc.save({ useObjectStreams: false }));
}

/** An EPUB carrying a zip bomb: an entry of `megabytes` MiB of zeros (deflated to a few KiB). */
export async function makeZipBombEpub(megabytes = 64): Promise<Buffer> {
  return await makeEpub([{ file: 'c1.xhtml', body: '<p>Hi.</p>' }], { extra: [{ name: 'OEBPS/bomb.xhtml', data: Buffer.alloc(megabytes * 1024 * 1024, 0x20) }] });
}
