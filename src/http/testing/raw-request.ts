/** One HTTP request on its own connection, answered with the raw bytes (fetch would decode and pool): for download tests. */

import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { connect } from 'node:net';

export interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export async function rawRequest(url: string, headers: Record<string, string> = {}, method = 'GET'): Promise<RawResponse> {
  return await new Promise((resolve, reject) => {
    const req = httpRequest(url, { method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res
        .on('data', (chunk: Buffer) => chunks.push(chunk))
        .on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }))
        .on('error', reject);
    });
    req.on('error', reject).end();
  });
}

/**
 * Sends bytes as they are over a new TCP connection (what fetch and http.request refuse to send:
 * malformed framing, raw UTF-8 header values, repeated headers) and reads the answer until the
 * server closes the connection. The body is parsed as JSON when it is JSON.
 */
export async function sendRawBytes(url: string, bytes: Buffer): Promise<{ status: number; headers: string; body: any }> {
  const { hostname, port } = new URL(url);
  const socket = connect(Number(port), hostname);
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  // The server may answer and close before it has read everything (oversized headers).
  socket.on('error', () => undefined);
  socket.write(bytes);
  await new Promise((resolve) => socket.once('close', resolve));
  const [head = '', body = ''] = Buffer.concat(chunks).toString('utf8').split('\r\n\r\n', 2);
  let parsed: unknown = body;
  try {
    parsed = JSON.parse(body);
  } catch {
    // not JSON: the assertion on the code shows what came
  }
  return { status: Number(/^HTTP\/1\.1 (\d{3})/u.exec(head)?.[1] ?? 0), headers: head.toLowerCase(), body: parsed };
}
