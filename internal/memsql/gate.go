package memsql

import (
	"context"
	"strings"
	"sync"

	"github.com/dolthub/vitess/go/mysql"
	"github.com/dolthub/vitess/go/sqltypes"
)

// serialGate lets one statement at a time into the memory engine. A
// session works on its own copy of a table and puts the copy back when its
// statement (or transaction) ends, reads included, so two sessions at once
// lose one's change (measured: 4 sessions, 600 inserts, about 400 rows
// kept; one writer and three readers, a third of the updates reverted).
// Every statement holds the gate, and an explicit transaction from its
// BEGIN to its COMMIT or ROLLBACK; only the lock functions (GET_LOCK and
// kin, which touch no table) do not, so a session waiting in GET_LOCK
// never blocks the lock's holder.
type serialGate struct {
	slot chan struct{} // one token: who holds it may write

	mu   sync.Mutex
	inTx map[uint32]bool // connections holding the gate for a transaction
}

func newSerialGate() *serialGate {
	return &serialGate{slot: make(chan struct{}, 1), inTx: map[uint32]bool{}}
}

func (g *serialGate) acquire(ctx context.Context) error {
	select {
	case g.slot <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (g *serialGate) release() { <-g.slot }

func (g *serialGate) holds(conn uint32) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.inTx[conn]
}

func (g *serialGate) setTx(conn uint32, on bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if on {
		g.inTx[conn] = true
	} else {
		delete(g.inTx, conn)
	}
}

// run runs one statement of connection conn under the gate's rules.
func (g *serialGate) run(ctx context.Context, conn uint32, query string, exec func() error) error {
	kind := statementKind(query)
	if g.holds(conn) {
		err := exec()
		if kind == kindEnd {
			g.setTx(conn, false)
			g.release()
		}
		return err
	}
	switch kind {
	case kindBegin:
		if err := g.acquire(ctx); err != nil {
			return err
		}
		if err := exec(); err != nil {
			g.release()
			return err
		}
		g.setTx(conn, true)
		return nil
	case kindLock:
		return exec()
	default:
		if err := g.acquire(ctx); err != nil {
			return err
		}
		defer g.release()
		return exec()
	}
}

// closed gives back the gate a connection held in a transaction it never
// ended.
func (g *serialGate) closed(conn uint32) {
	if g.holds(conn) {
		g.setTx(conn, false)
		g.release()
	}
}

type stmtKind int

const (
	kindOther stmtKind = iota
	kindBegin
	kindEnd
	kindLock // SELECT GET_LOCK(...), RELEASE_LOCK(...) and kin
)

// statementKind classifies a statement by its first keyword, after
// leading blanks and comments.
func statementKind(q string) stmtKind {
	q = skipComments(q)
	word := q
	if end := strings.IndexFunc(q, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '_')
	}); end >= 0 {
		word = q[:end]
	}
	switch strings.ToLower(word) {
	case "begin", "start":
		return kindBegin
	case "commit", "rollback":
		return kindEnd
	case "select":
		if isLockCall(q) {
			return kindLock
		}
	}
	return kindOther
}

// isLockCall says whether q is a SELECT of the user-lock functions only
// (the store's host lock), with no FROM: it reads no table.
func isLockCall(q string) bool {
	l := strings.ToLower(q)
	if strings.Contains(l, " from ") {
		return false
	}
	for _, f := range []string{"get_lock(", "release_lock(", "release_all_locks(", "is_free_lock(", "is_used_lock("} {
		if strings.Contains(l, f) {
			return true
		}
	}
	return false
}

func skipComments(q string) string {
	for {
		q = strings.TrimLeft(q, " \t\r\n;(")
		switch {
		case strings.HasPrefix(q, "/*"):
			i := strings.Index(q, "*/")
			if i < 0 {
				return ""
			}
			q = q[i+2:]
		case strings.HasPrefix(q, "--"), strings.HasPrefix(q, "#"):
			i := strings.IndexByte(q, '\n')
			if i < 0 {
				return ""
			}
			q = q[i+1:]
		default:
			return q
		}
	}
}

// gatedHandler is the server's handler with every statement through the
// gate. It is a plain mysql.Handler (not the extended one), so the
// connection sends every statement through ComQuery, ComMultiQuery or
// ComStmtExecute.
type gatedHandler struct {
	mysql.Handler
	gate *serialGate
}

func (h gatedHandler) ComQuery(ctx context.Context, c *mysql.Conn, query string, callback mysql.ResultSpoolFn) error {
	return h.gate.run(ctx, c.ConnectionID, query, func() error { return h.Handler.ComQuery(ctx, c, query, callback) })
}

func (h gatedHandler) ComMultiQuery(ctx context.Context, c *mysql.Conn, query string, callback mysql.ResultSpoolFn) (string, error) {
	var rest string
	err := h.gate.run(ctx, c.ConnectionID, query, func() error {
		var err error
		rest, err = h.Handler.ComMultiQuery(ctx, c, query, callback)
		return err
	})
	return rest, err
}

func (h gatedHandler) ComStmtExecute(ctx context.Context, c *mysql.Conn, prepare *mysql.PrepareData, callback func(*sqltypes.Result) error) error {
	return h.gate.run(ctx, c.ConnectionID, prepare.PrepareStmt, func() error { return h.Handler.ComStmtExecute(ctx, c, prepare, callback) })
}

func (h gatedHandler) ConnectionClosed(c *mysql.Conn) {
	h.Handler.ConnectionClosed(c)
	h.gate.closed(c.ConnectionID)
}
