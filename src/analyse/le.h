/*
 * le.h - little-endian encoding of the model file's integers and floats
 * (internal to analyse/).  Files are portable across hosts: every multi-byte
 * value is written byte by byte, least significant first.
 */
#ifndef TD_ANALYSE_LE_H
#define TD_ANALYSE_LE_H

#include <stdint.h>
#include <string.h>

static inline void td__put_u32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static inline uint32_t td__get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline void td__put_f32(unsigned char *p, float f)
{
    uint32_t v;
    memcpy(&v, &f, 4);
    td__put_u32(p, v);
}

static inline float td__get_f32(const unsigned char *p)
{
    uint32_t v = td__get_u32(p);
    float f;
    memcpy(&f, &v, 4);
    return f;
}

static inline void td__put_u64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static inline uint64_t td__get_u64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

#endif
