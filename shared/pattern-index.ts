// A token trie from subscriptions (topics and patterns) to values, matched against concrete topics.
// The core routes with it (subscription → uplinks) and the edge fans out with it (pattern → sessions).

interface TrieNode<V> {
  children: Map<string, TrieNode<V>>;
  /** Values whose subscription ends at this node. */
  values: Set<V>;
  /** Values whose subscription ends here with `>`. */
  rest: Set<V>;
}

function newNode<V>(): TrieNode<V> {
  return { children: new Map(), values: new Set(), rest: new Set() };
}

export class PatternIndex<V> {
  private readonly root: TrieNode<V> = newNode();
  private entries = 0;

  get size(): number {
    return this.entries;
  }

  /** Adds `value` under `subscription`; returns false when it was already there. */
  add(subscription: string, value: V): boolean {
    const tokens = subscription.split('.');
    let node = this.root;
    const last = tokens.length - 1;
    for (let i = 0; i < last; i++) node = this.childFor(node, tokens[i]!);
    const set = tokens[last] === '>' ? node.rest : this.childFor(node, tokens[last]!).values;
    if (set.has(value)) return false;
    set.add(value);
    this.entries++;
    return true;
  }

  /** Removes `value` from `subscription`; returns false when it was not there. */
  remove(subscription: string, value: V): boolean {
    const tokens = subscription.split('.');
    const path: TrieNode<V>[] = [this.root];
    let node: TrieNode<V> | undefined = this.root;
    const last = tokens.length - 1;
    for (let i = 0; i < last && node; i++) {
      node = node.children.get(tokens[i]!);
      if (node) path.push(node);
    }
    if (!node) return false;
    let set: Set<V> | undefined;
    if (tokens[last] === '>') set = node.rest;
    else {
      const leaf = node.children.get(tokens[last]!);
      if (leaf) path.push(leaf);
      set = leaf?.values;
    }
    if (!set || !set.delete(value)) return false;
    this.entries--;
    this.prune(path, tokens);
    return true;
  }

  /** Calls `visit` once for each (subscription, value) entry that matches `topic`. */
  forEachMatch(topic: string, visit: (value: V) => void): void {
    if (this.entries === 0) return;
    this.walk(this.root, topic.split('.'), 0, visit);
  }

  private walk(node: TrieNode<V>, tokens: string[], depth: number, visit: (value: V) => void): void {
    if (depth < tokens.length) {
      for (const value of node.rest) visit(value);
    }
    if (depth === tokens.length) {
      for (const value of node.values) visit(value);
      return;
    }
    const exact = node.children.get(tokens[depth]!);
    if (exact) this.walk(exact, tokens, depth + 1, visit);
    const star = node.children.get('*');
    if (star) this.walk(star, tokens, depth + 1, visit);
  }

  private childFor(node: TrieNode<V>, token: string): TrieNode<V> {
    let child = node.children.get(token);
    if (!child) {
      child = newNode();
      node.children.set(token, child);
    }
    return child;
  }

  /** Drops now-empty nodes so that a churn of subscriptions does not leave the trie growing. */
  private prune(path: TrieNode<V>[], tokens: string[]): void {
    for (let i = path.length - 1; i > 0; i--) {
      const node = path[i]!;
      if (node.values.size > 0 || node.rest.size > 0 || node.children.size > 0) return;
      path[i - 1]!.children.delete(tokens[i - 1]!);
    }
  }
}
