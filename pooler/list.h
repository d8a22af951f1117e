/*
 * list.h - intrusive circular doubly-linked lists.
 *
 * A connection sits on exactly one state list at a time (see client.c and
 * server.c); moving it is O(1) and needs no allocation.
 */
#ifndef PGSCOPE_POOLER_LIST_H
#define PGSCOPE_POOLER_LIST_H

#include <stdbool.h>
#include <stddef.h>

struct list {
	struct list *next;
	struct list *prev;
};

static inline void list_init(struct list *head)
{
	head->next = head;
	head->prev = head;
}

static inline bool list_empty(const struct list *head)
{
	return head->next == head;
}

/* Insert item at the tail of head (FIFO order when taken from the front). */
static inline void list_append(struct list *head, struct list *item)
{
	item->prev = head->prev;
	item->next = head;
	head->prev->next = item;
	head->prev = item;
}

/* Unlink item and leave it as an empty list, so a second delete is harmless. */
static inline void list_del(struct list *item)
{
	item->prev->next = item->next;
	item->next->prev = item->prev;
	list_init(item);
}

static inline struct list *list_first(const struct list *head)
{
	return list_empty(head) ? NULL : head->next;
}

/* The struct that contains member ptr. */
#define list_entry(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

#endif
