package store

// migrations are the schema, one step per entry, applied in order and
// recorded in schema_migrations; a step is never edited once released, only
// followed by another. The SQL is the common subset of SQLite and
// PostgreSQL; times are Unix milliseconds (UTC) in BIGINT columns so that
// both engines compare and export them alike.
var migrations = []string{
	// 1: targets, rounds, per-source observations, peer sightings, peers.
	`CREATE TABLE targets (
		info_hash TEXT PRIMARY KEY,          -- the target's key: its first swarm key, 40 hex digits
		name      TEXT NOT NULL DEFAULT '',  -- the torrent's or magnet's name
		spec      TEXT NOT NULL DEFAULT '',  -- the target as the user wrote it
		search    TEXT NOT NULL DEFAULT '',  -- JSON: swarm keys, tracker tiers, nodes, peers, private, size
		added_ms  BIGINT NOT NULL
	);
	CREATE TABLE rounds (
		round       BIGINT PRIMARY KEY,      -- 1, 2, ...
		started_ms  BIGINT NOT NULL,
		finished_ms BIGINT,                  -- NULL while the round is under way
		targets     INTEGER NOT NULL         -- targets planned
	);
	CREATE TABLE round_targets (           -- one row per target searched in a round
		round         BIGINT NOT NULL,
		info_hash     TEXT NOT NULL,
		started_ms    BIGINT NOT NULL,
		duration_ms   BIGINT NOT NULL,
		reason        TEXT NOT NULL,         -- why the search ended: complete, timeout, max-peers, canceled
		peers         INTEGER NOT NULL,      -- distinct peers found
		new_peers     INTEGER NOT NULL,      -- of which never seen in an earlier round
		estimate      INTEGER NOT NULL,      -- swarm size: the largest count one source vouches for
		estimate_high INTEGER NOT NULL,      -- upper end: the sources assumed disjoint
		error         TEXT NOT NULL DEFAULT '',
		PRIMARY KEY (round, info_hash)
	);
	CREATE INDEX round_targets_hash ON round_targets (info_hash, round);
	CREATE TABLE observations (            -- one row per source per target per round
		round       BIGINT NOT NULL,
		info_hash   TEXT NOT NULL,
		source      TEXT NOT NULL,           -- tracker URL, dht, magnet, or scrape:URL
		kind        TEXT NOT NULL,           -- tracker, dht, magnet, scrape
		peers       INTEGER NOT NULL,        -- distinct peers named; -1 for a scrape
		new_peers   INTEGER NOT NULL,        -- of which never seen in an earlier round
		seeders     INTEGER NOT NULL,        -- -1 if unknown
		leechers    INTEGER NOT NULL,        -- -1 if unknown
		completed   INTEGER NOT NULL,        -- -1 if unknown (scrapes only)
		queries     INTEGER NOT NULL,
		errors      INTEGER NOT NULL,
		latency_ms  BIGINT NOT NULL,         -- announce or scrape round trip; DHT: time to the first peer
		error       TEXT NOT NULL DEFAULT '',
		observed_ms BIGINT NOT NULL,
		PRIMARY KEY (round, info_hash, source)
	);
	CREATE INDEX observations_hash ON observations (info_hash, round);
	CREATE INDEX observations_time ON observations (observed_ms);
	CREATE TABLE sightings (               -- one row per peer per target per round
		round     BIGINT NOT NULL,
		info_hash TEXT NOT NULL,
		address   TEXT NOT NULL,             -- ip:port, IPv6 in brackets
		sources   TEXT NOT NULL,             -- space-separated, in order of sighting
		seen_ms   BIGINT NOT NULL,
		PRIMARY KEY (round, info_hash, address)
	);
	CREATE INDEX sightings_hash ON sightings (info_hash, round);
	CREATE INDEX sightings_time ON sightings (seen_ms);
	CREATE TABLE peers (                   -- one row per peer per target, over all rounds
		info_hash     TEXT NOT NULL,
		address       TEXT NOT NULL,
		first_seen_ms BIGINT NOT NULL,
		last_seen_ms  BIGINT NOT NULL,
		first_round   BIGINT NOT NULL,
		last_round    BIGINT NOT NULL,
		via_tracker   INTEGER NOT NULL,      -- 1 if ever named by a tracker
		via_dht       INTEGER NOT NULL,      -- 1 if ever named by the DHT
		via_magnet    INTEGER NOT NULL,      -- 1 if ever named by a magnet link
		PRIMARY KEY (info_hash, address)
	);`,
	// 2: retention. PruneSightings deletes old sightings; the rounds a
	// peer was seen in are then its sightings left plus rounds_pruned.
	`ALTER TABLE peers ADD COLUMN rounds_pruned INTEGER NOT NULL DEFAULT 0`,
	// 3: the peers no tracker named, so that a round's end-of-round scrape
	// can merge the estimate anew from the stored rows (crawl.Result's
	// Untracked), wherever the round's searches ran.
	`ALTER TABLE round_targets ADD COLUMN untracked INTEGER NOT NULL DEFAULT 0;`,
}
