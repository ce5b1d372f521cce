// Copyright 2026 the unilock authors. MIT license.
// This module is browser compatible.
/**
 * @internal An ordered set whose members carry their own links: a name's
 * held requests and its queue. A `Set` would do, but a request joins and
 * leaves one per handoff, and a small `Set` churned like that rebuilds its
 * table every few deletions: garbage on the path a contended handoff takes.
 * A member is in at most one list at a time.
 */

/** What a member carries: its neighbours and its list. */
export interface Listed<T extends Listed<T>> {
  prev: T | undefined;
  next: T | undefined;
  list: RequestList<T> | undefined;
}

/** Members in the order they were added; O(1) add, delete and `has`. */
export class RequestList<T extends Listed<T>> implements Iterable<T> {
  head: T | undefined = undefined;
  tail: T | undefined = undefined;
  size = 0;

  /** Appends `member`, which must be in no list. */
  add(member: T): void {
    const tail = this.tail;
    member.list = this;
    member.prev = tail;
    member.next = undefined;
    if (tail === undefined) this.head = member;
    else tail.next = member;
    this.tail = member;
    this.size++;
  }

  /** Removes `member`; false when it was not in this list. */
  delete(member: T): boolean {
    if (member.list !== this) return false;
    const { prev, next } = member;
    if (prev === undefined) this.head = next;
    else prev.next = next;
    if (next === undefined) this.tail = prev;
    else next.prev = prev;
    member.prev = member.next = undefined;
    member.list = undefined;
    this.size--;
    return true;
  }

  has(member: T): boolean {
    return member.list === this;
  }

  /** In order; a member deleted while it is visited does not end the walk. */
  *[Symbol.iterator](): Iterator<T> {
    let member = this.head;
    while (member !== undefined) {
      const next = member.next;
      yield member;
      member = member.list === this
        ? member.next
        : next?.list === this
        ? next
        : undefined;
    }
  }
}
