// Package protocol reads and writes memcached's text and meta protocols as
// described in memcached's doc/protocol.txt: it parses client requests,
// encodes them for a backend and reads backend replies. It holds no sockets
// policy and does no routing.
package protocol

// Command is one memcached command.
type Command uint8

// The commands shepherd understands.
const (
	CmdUnknown Command = iota
	CmdGet
	CmdGets
	CmdGat
	CmdGats
	CmdSet
	CmdAdd
	CmdReplace
	CmdAppend
	CmdPrepend
	CmdCas
	CmdDelete
	CmdIncr
	CmdDecr
	CmdTouch
	CmdFlushAll
	CmdVersion
	CmdStats
	CmdVerbosity
	CmdQuit
	CmdMetaGet
	CmdMetaSet
	CmdMetaDelete
	CmdMetaArithmetic
	CmdMetaNoop
	CmdMetaDebug
	numCommands
)

var commandNames = [numCommands]string{
	CmdUnknown: "unknown", CmdGet: "get", CmdGets: "gets", CmdGat: "gat", CmdGats: "gats",
	CmdSet: "set", CmdAdd: "add", CmdReplace: "replace", CmdAppend: "append",
	CmdPrepend: "prepend", CmdCas: "cas", CmdDelete: "delete", CmdIncr: "incr",
	CmdDecr: "decr", CmdTouch: "touch", CmdFlushAll: "flush_all", CmdVersion: "version",
	CmdStats: "stats", CmdVerbosity: "verbosity", CmdQuit: "quit", CmdMetaGet: "mg",
	CmdMetaSet: "ms", CmdMetaDelete: "md", CmdMetaArithmetic: "ma", CmdMetaNoop: "mn",
	CmdMetaDebug: "me",
}

// String returns the command's wire name.
func (c Command) String() string {
	if c >= numCommands {
		return "unknown"
	}
	return commandNames[c]
}

// Commands lists every known command, for metrics labels.
func Commands() []Command {
	cs := make([]Command, 0, numCommands-1)
	for c := CmdGet; c < numCommands; c++ {
		cs = append(cs, c)
	}
	return cs
}

// IsRetrieval reports whether c is get, gets, gat or gats.
func (c Command) IsRetrieval() bool { return c >= CmdGet && c <= CmdGats }

// IsStorage reports whether c carries a data block in the classic protocol.
func (c Command) IsStorage() bool { return c >= CmdSet && c <= CmdCas }

// IsMeta reports whether c is a meta command.
func (c Command) IsMeta() bool { return c >= CmdMetaGet && c <= CmdMetaDebug }

// Request is one parsed client request. Its byte slices point into the
// Reader's buffers and are valid only until the next Read.
type Request struct {
	Cmd Command
	// Keys holds every key of a retrieval command and the one key of a
	// single-key command, as sent (base64 for meta commands with the b flag).
	Keys [][]byte
	// Args holds the tokens that follow the key for single-key commands
	// (flags, exptime, bytes, cas, delta, meta flags), the exptime of
	// gat/gats, and all tokens of stats, verbosity and flush_all.
	// "noreply" is not in Args; meta flags all are, q included (a meta
	// command goes to the backend as sent), and q also sets Noreply.
	Args [][]byte
	// Data is the data block of a storage command or ms, without its CRLF.
	Data []byte
	// Tail holds the two bytes after Data when they are not CRLF: memcached
	// refuses such a block itself, with the reply its own checks pick (too
	// large comes first), so the request goes to it as sent. nil otherwise.
	Tail []byte
	// Noreply is set for the classic noreply token and the meta q flag.
	Noreply bool
	// Base64 is set when a meta command carries the b flag.
	Base64 bool
}

// Key returns the request's first key, or nil.
func (r *Request) Key() []byte {
	if len(r.Keys) == 0 {
		return nil
	}
	return r.Keys[0]
}

func (r *Request) reset() {
	r.Cmd = CmdUnknown
	r.Keys = r.Keys[:0]
	r.Args = r.Args[:0]
	r.Data = nil
	r.Tail = nil
	r.Noreply = false
	r.Base64 = false
}
