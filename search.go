package mixed

import "bytes"

// A finder locates a delimiter ("\r\n--" + boundary, or "\n--" + boundary)
// in part bodies.
//
// bytes.Index filters candidates on the needle's first byte, which is CR or
// LF: in text bodies, the shape of real batch payloads, that byte occurs every
// few dozen bytes and the filter stops paying for itself. The finder instead
// runs bytes.IndexByte on a byte of the delimiter that is rare in the data,
// and checks the whole delimiter only around its hits. It starts with the
// byte of the boundary least likely in text; when that one turns out to be
// frequent (data full of it: an adversary can arrange it, and bodies full of
// near-delimiters hold every early byte of the boundary), it counts the
// delimiter's bytes in the data ahead and switches to the rarest, which it
// keeps for the next searches (the next reads of a stream look like this
// one). If every byte of the delimiter is frequent there, it falls back, for
// a stretch, to a Horspool scan, which costs at most a table lookup per byte
// plus one comparison of the delimiter where a window's last byte matches.
// On data where every byte value is about as likely (compressed, encrypted,
// binary bodies) the filter byte occurs once in 256 bytes, each hit costing
// a call and a check: when it hits that often, without being dense, the
// finder hands over to a skip scan (Horspool in four interleaved chains,
// see skipScan), which looks at about one byte in len(pat) there, and gives
// up, for the filter, as soon as its shifts get short.
// The work stays linear whatever the input: each count covers bytes the
// search then moves past, and each skip scan that gives up has cost at most
// a block of steps.
type finder struct {
	pat []byte // the delimiter
	// cur is the index in pat of the byte used as a filter; first is the
	// one reset chooses from textRank.
	cur, first int
	// skip is the Horspool shift for each byte at the end of a window,
	// the fallback for data full of every delimiter byte.
	skip [256]uint8
	// What the filter has cost since its byte was last reviewed: bytes
	// it covered and false hits (see review).
	scanned, misses int
	// every is how many bytes the filter covers between reviews;
	// switched says that the last review changed the filter byte, when
	// it missed prevMisses times in prevScanned bytes.
	every                   int
	switched                bool
	prevMisses, prevScanned int
}

func (f *finder) reset(pat []byte, boundaryStart int) {
	f.pat = pat
	f.first = len(pat) - 1
	best := 256
	// Only the boundary itself is considered: CR, LF and '-' are common
	// in text (dates, negative numbers, separators).
	for i := len(pat) - 1; i >= boundaryStart; i-- {
		if r := int(textRank[pat[i]]); r < best {
			best, f.first = r, i
		}
	}
	f.cur = f.first
	f.scanned, f.misses, f.every, f.switched = 0, 0, reviewEvery, false
	m := len(pat) // at most 4 + 70, so shifts fit a byte
	for i := range f.skip {
		f.skip[i] = uint8(m)
	}
	for i := 0; i < m-1; i++ {
		f.skip[pat[i]] = uint8(m - 1 - i)
	}
}

// horspool returns the index of the first occurrence of the delimiter in
// s, or -1. Its work is sublinear on typical data and at worst
// O(len(s)·len(pat)) comparisons of a 74-byte pattern, with no
// per-candidate call overhead.
func (f *finder) horspool(s []byte) int {
	pat := f.pat
	m := len(pat)
	last := pat[m-1]
	for i := 0; i+m <= len(s); {
		c := s[i+m-1]
		if c == last && string(s[i:i+m-1]) == string(pat[:m-1]) {
			return i
		}
		i += int(f.skip[c])
	}
	return -1
}

// Bounds of the counts of delimiter bytes the finder makes when its filter
// gives up (see index), and the length of a Horspool stretch.
const (
	countMin = 64
	countMax = 4096
	stretch  = 4096
	// burst is about the most false hits in a row the filter allows,
	// however long the stretch without one before: at most burst plus
	// capEvery.
	burst    = 4
	capEvery = 4
)

// index returns the index of the first occurrence of the delimiter in s, or
// -1. It does not report a delimiter that would extend past the end of s.
func (f *finder) index(s []byte) int {
	m := len(f.pat)
	if len(s) < m {
		return -1
	}
	from := 0
	chosen := false // f.cur was chosen by a count in this call
	if f.scanned >= f.every {
		f.review(s)
	}
	// A skip scan may be tried while it has not given up in this call:
	// one failed trial per search bounds what the trials can waste.
	trySkip := m >= skipMinLen
	for {
		i, dense, ok := f.filter(s, from, f.cur, trySkip)
		if ok || i < 0 {
			return i
		}
		if dense < 0 {
			// The filter hits too often to pay (data where every byte
			// value is about as likely: compressed or encrypted bodies,
			// images) but not densely: a skip scan looks at one byte in
			// about len(pat), and gives up if its shifts are short.
			k, status := f.skipScan(s, i)
			switch status {
			case skipDone:
				return k
			case skipShort:
				trySkip = false
			}
			from = k
			continue
		}
		// The filter gave up at i: no delimiter starts before it. Count
		// the delimiter's bytes ahead, in a window of four times the
		// stretch where the filter hit (from its first false hit, dense,
		// to i; at least countMin, at most countMax): the filter hit at
		// least every 64 bytes there, each hit costing about as much as
		// counting a dozen bytes, so counting costs at most a few times
		// the filtering it replaces. A filter byte that was rare, then
		// dense in a short run (a flood of it after ordinary data) gets a
		// small count, around that run, which finds a byte absent there.
		// No count when a byte chosen by a count has just failed: a count
		// right away would only repeat.
		if !chosen || i-from >= countMax {
			n := min(max(4*(i-dense), countMin), countMax, len(s)-i)
			if f.choose(s[i:], n) {
				from, chosen = i, true
				continue
			}
		}
		// Every byte of the delimiter is frequent here: a stretch of
		// Horspool, then a count again.
		end := min(len(s), i+stretch+m-1)
		if k := f.horspool(s[i:end]); k >= 0 {
			return i + k
		}
		if end == len(s) {
			return -1
		}
		// horspool has tried every start up to end-m.
		from, chosen = end-m+1, false
	}
}

// The skip scan, for data on which the filter hits too often to pay
// (every byte value about as likely, as in compressed or encrypted
// bodies) without hitting densely enough to give up for a count.
const (
	// skipMinLen is the shortest delimiter worth a skip scan: its
	// shifts are at most len(pat), and shorter ones do not beat the
	// filter (the delimiters of generated boundaries are 30 to 74 bytes).
	skipMinLen = 24
	// A filter hit costs a call to IndexByte and a check, about 20 ns;
	// a skip scan's step a little over 1 ns, advancing by up to
	// len(pat) bytes: the skip scan does better when its average shift
	// exceeds a sixteenth of the distance between the filter's hits. A
	// filter that has hit skipHits times, more than once in skipGap
	// bytes on average, hands over to a skip scan, which keeps going
	// while its shifts average at least skipMinShift. Random data hits
	// once in 256 bytes, and shifts by nearly len(pat); text hits less
	// often, and many of its bytes are in the boundary.
	skipHits     = 16
	skipGap      = 384
	skipMinShift = 16
	// The skip scan measures its shifts every skipBlock steps of each
	// of its chains, a comparison of the delimiter counting as
	// skipVerify steps: when it gives up (data full of the delimiter's
	// bytes, or of windows that start and end as it does) it has cost at
	// most about 4·skipBlock steps.
	skipBlock  = 32
	skipVerify = 8
	// A skip scan covers windows of four chains of skipFirst bytes each
	// at first, doubling up to skipMax (a delimiter near the start costs
	// the other chains little), shrunk to the end of s, and at most
	// skipStretch bytes before the filter is tried again (the data may
	// have changed).
	skipFirst   = 512
	skipMax     = 16 << 10
	skipStretch = 256 << 10
	// skipTail is the shortest quarter of a window: less is left to one
	// chain.
	skipTail = 64
)

// Results of skipScan.
const (
	skipDone  = iota // it found the delimiter, or there is none
	skipShort        // its shifts were too short: data full of delimiter bytes
	skipLong         // it covered skipStretch bytes
)

// skipScan looks for the delimiter in s from index from with a Horspool
// scan run as four interleaved chains, each over its own quarter of a
// window: one chain is a chain of dependent loads (a byte of s, then its
// shift), which four chains overlap. It returns (index or -1, skipDone), or
// (i, skipShort or skipLong) when it stopped: no delimiter starts before
// s[i].
func (f *finder) skipScan(s []byte, from int) (int, int) {
	pat := f.pat
	m := len(pat)
	first, last := pat[0], pat[m-1]
	w := skipFirst
	for base := from; ; {
		if base-from >= skipStretch {
			return base, skipLong
		}
		// Chain j tries the starts in [e[j]-w, e[j]); the last one, all
		// the starts left when the window is the end of s.
		e3 := base + 4*w
		if len(s)-base < 4*w+m {
			w = (len(s) - base - m + 1) / 4
			if w < skipTail {
				// The rest, in one chain.
				k, ok := f.skipChain(s, base, len(s)-m+1)
				if !ok {
					return k, skipShort
				}
				return k, skipDone
			}
			e3 = len(s) - m + 1
		}
		e0, e1, e2 := base+w, base+2*w, base+3*w
		a0, a1, a2, a3 := base, e0, e1, e2
		found := -1
		for n, sum := 0, a0+a1+a2+a3; a0 < e0 && a1 < e1 && a2 < e2 && a3 < e3; {
			c0, c1, c2, c3 := s[a0+m-1], s[a1+m-1], s[a2+m-1], s[a3+m-1]
			if c0 == last || c1 == last || c2 == last || c3 == last {
				// A window whose first and last bytes match costs a
				// comparison, counted as skipVerify steps: data made
				// of such windows ends the scan as short shifts do.
				if c0 == last && s[a0] == first {
					if string(s[a0:a0+m-1]) == string(pat[:m-1]) {
						return a0, skipDone
					}
					n += skipVerify
				}
				for j, a := range [3]int{a1, a2, a3} {
					if s[a+m-1] == last && s[a] == first {
						if string(s[a:a+m-1]) == string(pat[:m-1]) {
							found = j + 1
							break
						}
						n += skipVerify
					}
				}
				if found >= 0 {
					break
				}
			}
			a0 += int(f.skip[c0])
			a1 += int(f.skip[c1])
			a2 += int(f.skip[c2])
			a3 += int(f.skip[c3])
			if n++; n >= skipBlock {
				next := a0 + a1 + a2 + a3
				if next-sum < 4*skipBlock*skipMinShift {
					// Chain 0 has tried every start before it, or
					// before e0.
					return min(a0, e0), skipShort
				}
				n, sum = 0, next
			}
		}
		if k, status := f.finishChains(s, [4]int{a0, a1, a2, a3}, [4]int{e0, e1, e2, e3}, found); k >= 0 || status != skipDone {
			return k, status
		}
		base, w = e3, min(2*w, skipMax)
	}
}

// finishChains ends a window of skipScan in which one chain reached the
// end of its quarter, or found the delimiter (found is its index, or -1):
// chain j goes on from a[j] to end[j], in order, up to the one that found
// it. It returns skipScan's results, or (-1, skipDone) when the window has
// no delimiter.
func (f *finder) finishChains(s []byte, a, end [4]int, found int) (int, int) {
	for j := range a {
		if j == found {
			return a[j], skipDone
		}
		k, ok := f.skipChain(s, a[j], end[j])
		if !ok {
			return k, skipShort
		}
		if k >= 0 {
			return k, skipDone
		}
	}
	return -1, skipDone
}

// skipChain is one chain of skipScan: it tries the starts in [a, end),
// which must leave room for the delimiter. It returns (index or -1, true),
// or (i, false) when its shifts were too short: no delimiter starts before
// s[i].
func (f *finder) skipChain(s []byte, a, end int) (int, bool) {
	pat := f.pat
	m := len(pat)
	first, last := pat[0], pat[m-1]
	for n, start := 0, a; a < end; {
		c := s[a+m-1]
		if c == last && s[a] == first {
			if string(s[a:a+m-1]) == string(pat[:m-1]) {
				return a, true
			}
			n += skipVerify
		}
		a += int(f.skip[c])
		if n++; n >= skipBlock && a < end {
			if a-start < skipBlock*skipMinShift {
				return a, false
			}
			n, start = 0, a
		}
	}
	return -1, true
}

// choose makes the delimiter byte least frequent in s[:n] the filter, and
// reports whether it is rare enough for one: at most one hit in 64 bytes,
// the rate at which filter gives up. Ties go to the byte least likely in
// text; but among bytes absent from s[:n], to one absent from the next
// countMax bytes too, or else to the one that occurs there last, so that
// data made of runs of delimiter bytes (each rare, then dense in turn)
// keeps one filter for as long as it can: looking ahead costs one
// IndexByte per delimiter byte, at most, each over at most countMax bytes.
func (f *finder) choose(s []byte, n int) bool {
	w := s[:n]
	var tally [2][256]uint16
	countBytes(w, &tally)
	best, bestN := f.rarest(&tally)
	if bestN*64 > len(w) {
		return false
	}
	if bestN == 0 && n < len(s) {
		ahead := s[n:min(len(s), n+countMax)]
		far := -1
		for j := len(f.pat) - 1; j >= 0; j-- {
			c := f.pat[j]
			if tally[0][c] != 0 || tally[1][c] != 0 {
				continue // present in w, or looked at already
			}
			tally[0][c] = 1
			d := bytes.IndexByte(ahead, c)
			if d < 0 {
				best = j
				break
			}
			if d > far {
				best, far = j, d
			}
		}
	}
	f.cur = best
	return true
}

// countBytes counts the bytes of w in t, whose two tallies are added for
// the count of a byte: two, so that a run of one byte does not chain every
// increment on the one before.
func countBytes(w []byte, t *[2][256]uint16) {
	k := 0
	for ; k+2 <= len(w); k += 2 {
		t[0][w[k]]++
		t[1][w[k+1]]++
	}
	if k < len(w) {
		t[0][w[k]]++
	}
}

// rarest returns the index in pat of the delimiter byte least frequent in
// the tally t, ties going to the byte least likely in text, and its count.
func (f *finder) rarest(t *[2][256]uint16) (best, bestN int) {
	best = -1
	for j, c := range f.pat {
		cnt := int(t[0][c]) + int(t[1][c])
		if best < 0 || cnt < bestN || cnt == bestN && textRank[c] < textRank[f.pat[best]] {
			best, bestN = j, cnt
		}
	}
	return best, bestN
}

// Reviews of the filter byte. The byte reset picks is rare in text in
// general, but may be common in the data at hand (a letter of the
// boundary that base64 ids and tokens hold, once in a few hundred bytes):
// each false hit costs a call of IndexByte and a check, more than
// scanning a few hundred bytes, yet the filter only gives up when they
// come more than once in 64 bytes. So the finder counts the bytes its
// filter covers and its false hits, and every reviewEvery bytes or more,
// when it missed more than once in missGap bytes, counts the delimiter's
// bytes in the data ahead (countMax bytes) and switches to the rarest
// there, if it occurs less than half as often as the current one. A review
// that found no better byte, or follows a switch that did not halve the
// rate of false hits (data where every byte is about as likely, random or
// compressed), doubles the stretch between reviews, up to reviewMax: what
// reviews can cost is a count of countMax bytes per stretch, a few per
// cent of the search once the stretches have grown.
const (
	reviewEvery = 16 << 10
	reviewMax   = 4 << 20
	missGap     = 1024
	// reviewMin is the least data ahead worth a count: less is put off
	// to a later search.
	reviewMin = 1024
)

// review reconsiders the filter byte at the start of a search of s (see
// reviewEvery).
func (f *finder) review(s []byte) {
	if f.misses*missGap <= f.scanned {
		f.scanned, f.misses = 0, 0
		return
	}
	n := min(len(s), countMax)
	if n < reviewMin {
		return
	}
	if !f.switched || 2*float64(f.misses)*float64(f.prevScanned) > float64(f.prevMisses)*float64(f.scanned) {
		// No switch last time, or one that did not halve the rate of
		// false hits: less often from now on. (In floating point: the
		// counts of a search of gigabytes in memory would overflow.)
		f.every = min(2*f.every, reviewMax)
	}
	var tally [2][256]uint16
	countBytes(s[:n], &tally)
	best, bestN := f.rarest(&tally)
	c := f.pat[f.cur]
	f.switched = best != f.cur && 2*bestN < int(tally[0][c])+int(tally[1][c])
	if f.switched {
		f.cur = best
		f.prevMisses, f.prevScanned = f.misses, f.scanned
	}
	f.scanned, f.misses = 0, 0
}

// filter looks for the delimiter in s from index from, filtering on the
// byte at index rare of the pattern with IndexByte. It returns (index, _,
// true) when it finds it, (-1, _, true) when s has none, or (i, dense,
// false) when the filter gave up: too many false hits, the first at dense,
// and no delimiter starts before s[i]. With trySkip, it also gives up, with
// dense -1, when its hits come too often for the filter to beat a skip
// scan (more than about one in skipGap bytes), however sparse for a count.
func (f *finder) filter(s []byte, from, rare int, trySkip bool) (i, dense int, ok bool) {
	pat := f.pat
	c := pat[rare]
	first, last := pat[0], pat[len(pat)-1]
	// Candidates for the filter byte lie in s[rare : len(s)-tail].
	tail := len(pat) - 1 - rare
	i, limit := from+rare, len(s)-tail
	// Hits are counted from base: fails of them allowed in (i-base)>>6.
	base, fails := from, 0
	for i < limit {
		j := bytes.IndexByte(s[i:limit], c)
		if j < 0 {
			f.scanned += len(s) - from
			f.misses += fails
			return -1, 0, true
		}
		i += j
		st := i - rare
		if s[st] == first && s[st+len(pat)-1] == last && string(s[st:st+len(pat)]) == string(pat) {
			f.scanned += st - from
			f.misses += fails
			return st, 0, true
		}
		if fails == 0 {
			dense = st
		}
		fails++
		// Allow about one false hit per 64 bytes scanned before giving
		// up on the filter for the rest of s: each hit costs a call and
		// a comparison, and bodies full of near-delimiters (a boundary
		// prefix every few bytes) hit every few dozen bytes, where
		// another byte, or the Horspool scan, does better.
		if fails > 4+((i-base)>>6) {
			return st + 1, dense, false
		}
		// Hits closer than skipGap bytes on average: a skip scan does
		// better (see skipGap).
		if trySkip && fails >= skipHits && fails*skipGap > i-from {
			return st + 1, -1, false
		}
		// The allowance a long quiet stretch earns is capped at burst:
		// otherwise a dense run of the filter byte after it (data made
		// of runs of delimiter bytes) would cost a hit per byte for as
		// long as the stretch was, over and over. The cap is applied
		// every capEvery hits only, which keeps the common path (random
		// or text data, a hit every few hundred bytes) as cheap as the
		// plain allowance.
		if fails%capEvery == 0 && 4+((i-base)>>6)-fails > burst {
			base = i - (burst-4+fails)<<6
		}
		i++
	}
	f.scanned += len(s) - from
	f.misses += fails
	return -1, 0, true
}

// partialSuffix returns the length of the longest suffix of s that is a
// proper prefix of pat: bytes that may be the start of a delimiter split
// across reads, and so cannot be given out as body yet.
func partialSuffix(s, pat []byte) int {
	from := len(s) - (len(pat) - 1)
	if from < 0 {
		from = 0
	}
	for i := from; i < len(s); i++ {
		if s[i] == pat[0] && bytes.HasPrefix(pat, s[i:]) {
			return len(s) - i
		}
	}
	return 0
}

// textRank estimates how common each byte is in the bodies of batch calls
// (JSON and text): higher is more common. Bytes absent from the table rank
// 0, the best filters.
var textRank = [256]uint8{
	' ': 255, 'e': 200, '"': 190, 't': 180, 'a': 175, 'o': 170, 'i': 165, 'n': 160,
	's': 155, 'r': 150, 'h': 140, 'l': 135, 'd': 130, ':': 130, ',': 130, '\r': 255, '\n': 255,
	'c': 120, 'u': 115, 'm': 110, '0': 110, '1': 110, '2': 105, 'f': 100, 'p': 100, 'g': 95,
	'w': 90, 'y': 90, 'b': 85, '3': 85, '4': 80, '5': 80, '6': 80, '7': 80, '8': 80, '9': 80,
	'.': 80, '-': 80, '_': 75, 'v': 70, 'k': 60, '{': 60, '}': 60, '/': 60, '\t': 60,
	'I': 50, 'T': 50, 'A': 50, 'S': 50, 'E': 45, 'N': 45, 'C': 45, 'O': 45, 'R': 45,
	'[': 40, ']': 40, 'x': 40, 'D': 40, 'L': 40, 'P': 40, 'M': 40, 'j': 30, 'q': 25,
	'H': 30, 'B': 30, 'F': 30, 'G': 30, 'U': 30, 'W': 30, 'Y': 25, 'V': 20, 'K': 20,
	'=': 20, '+': 20, '(': 20, ')': 20, '\'': 20, 'z': 20, 'J': 15, 'X': 15, 'Q': 10, 'Z': 10,
}
