import { MemoryStore, MessageHub } from '@msghub/messagehub';

const store = new MemoryStore();
const first = new MessageHub({ chatroomId: 'lobby', store });
console.log('published as', await first.publish('hello')); // committed, then delivered
await first.close();
const again = new MessageHub({ chatroomId: 'lobby', store }); // same epoch, ids go on after the close
console.log('same epoch:', again.epoch === first.epoch, 'next id:', await again.publish('again'));
await again.close();
