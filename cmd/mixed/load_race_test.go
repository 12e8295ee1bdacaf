//go:build race

package main

// loadRace is true under the race detector, where TestLoad sends less
// (see loadSmall).
const loadRace = true
