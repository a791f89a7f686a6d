/** Sample texts for tests and benchmarks: lecture-note style Chinese with English terms in it. */

const SENTENCES = [
  '今天我们学习如何用 Node.js 搭建一个语音合成服务。',
  '这个服务接收文本和一段参考音频，然后立即返回一个任务编号。',
  '后台的 worker 从队列里取出任务，把长文本切成若干段。',
  '每一段都交给常驻的引擎进程，模型只需要加载一次。',
  '如果 GPU 显存不足，任务会自动重试，而不是直接失败。',
  '客户端可以通过 Server-Sent Events 或者 WebSocket 实时查看进度。',
  '合成完成以后，音频会被编码成 mp3、opus 或者 flac 格式。',
  '老师们常常把讲义转换成语音，学生可以在路上收听。',
  '有声书的每个角色都可以使用不同的声音。',
  '为了安全，我们检查每一个上传的文件，并且限制它的大小。',
  'The queue never loses an accepted task, even after a crash.',
  '第三章讲的是重要的数据结构，比如队列和堆。',
  '我们在 2024 年测试了 100 个任务，平均每个任务用时 3.5 秒。',
  '最后，请记得在 README 里写清楚怎么运行测试。',
];

/** About `chars` characters of text, cut at a sentence end. */
export function sampleChineseText(chars: number): string {
  let text = '';
  for (let i = 0; text.length < chars; i++) {
    const sentence = SENTENCES[i % SENTENCES.length]!;
    if (text.length + sentence.length > chars && text.length > 0) break;
    text += sentence;
    if (i % 5 === 4) text += '\n';
  }
  return text;
}
