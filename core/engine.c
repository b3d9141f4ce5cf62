/*
 * engine.c - the current generation, swapped under a lock that is held
 * only for the pointer exchange, never during a scan.
 */
#include "engine.h"

generation_t *engine_current(engine_t *e)
{
    pthread_mutex_lock(&e->lock);
    generation_t *g = e->current;
    generation_hold(g);
    pthread_mutex_unlock(&e->lock);
    return g;
}

void engine_current_id(engine_t *e, unsigned long *id, size_t *nworkers)
{
    pthread_mutex_lock(&e->lock);
    *id = e->current->id;
    *nworkers = e->current->nworkers;
    pthread_mutex_unlock(&e->lock);
}

void engine_swap(engine_t *e, generation_t *g)
{
    pthread_mutex_lock(&e->lock);
    generation_t *old = e->current;
    e->current = g;
    pthread_mutex_unlock(&e->lock);
    generation_release(&old);
}
