import type { HubEvent } from '@msghub/messagehub';

/** Counts of one room in a log. */
export interface RoomStats {
  events: number;
  firstId: number;
  lastId: number;
}

/** What `msghub-log stats` reports. */
export interface LogStats {
  events: number;
  types: Record<string, number>;
  rooms: Record<string, RoomStats>;
}

/** Counts the events per type and per room. */
export async function countEvents(events: AsyncIterable<HubEvent<unknown>>): Promise<LogStats> {
  const stats: LogStats = { events: 0, types: Object.create(null) as Record<string, number>, rooms: Object.create(null) as Record<string, RoomStats> };
  for await (const event of events) {
    stats.events++;
    stats.types[event.type] = (stats.types[event.type] ?? 0) + 1;
    const room = stats.rooms[event.chatroomId];
    if (room === undefined) stats.rooms[event.chatroomId] = { events: 1, firstId: event.id, lastId: event.id };
    else {
      room.events++;
      room.lastId = event.id;
    }
  }
  return stats;
}

function table(rows: readonly (readonly string[])[]): string[] {
  const widths = rows.reduce<number[]>((w, row) => row.map((cell, i) => Math.max(w[i] ?? 0, cell.length)), []);
  return rows.map((row) => `  ${row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0))).join('  ')}`);
}

/** `stats` as text: totals, then a table per type and per room. */
export function formatStats(file: string, stats: LogStats): string {
  const types = Object.entries(stats.types).sort((a, b) => b[1] - a[1]);
  const rooms = Object.entries(stats.rooms).sort((a, b) => a[0].localeCompare(b[0]));
  return [
    `${file}: ${stats.events} events in ${rooms.length} room${rooms.length === 1 ? '' : 's'}`,
    'by type:',
    ...table(types.map(([type, count]) => [type, String(count)])),
    'by room:',
    ...table([['room', 'events', 'first id', 'last id'], ...rooms.map(([room, s]) => [room, String(s.events), String(s.firstId), String(s.lastId)])]),
  ].join('\n');
}
