package daemon

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
)

// The data directory holds the server key, the database, password files
// and logs: none of it is anyone else's business. What cpauth makes there
// is 0600 (files) and 0700 (directories); tightenModes brings back to that
// what was made looser before (the database files of earlier versions were
// 0644) or by hand.
const (
	maxFileMode = 0o600
	maxDirMode  = 0o700
)

// tightenModes takes away every permission bit beyond 0600 from the files
// and 0700 from the directories under dir, dir included, and logs one
// warning per path it changed. It never adds a bit. Symbolic links are
// neither changed nor followed (one may point out of the directory; dir
// itself may be one, as the configured path). Each directory is tightened
// before it is read, so that no one else can put a link in place of an
// entry between the look and the change. What it cannot change it logs and
// leaves: it does not stop the start.
func tightenModes(dir string, log *slog.Logger) {
	root, err := os.Stat(dir)
	if err != nil {
		log.Warn("checking the modes of the data directory", "error", err.Error())
		return
	}
	tighten(dir, root.Mode().Perm(), maxDirMode, log)
	err = fs.WalkDir(os.DirFS(dir), ".", func(name string, d fs.DirEntry, err error) error {
		path := filepath.Join(dir, filepath.FromSlash(name))
		if err != nil {
			log.Warn("checking the modes of the data directory", "path", path, "error", err.Error())
			if d != nil && d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if name == "." {
			return nil
		}
		var limit fs.FileMode
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			return nil
		case d.IsDir():
			limit = maxDirMode
		case d.Type().IsRegular():
			limit = maxFileMode
		default:
			return nil // a socket or a pipe: not cpauth's
		}
		fi, err := d.Info() // lstat: the entry itself, not what it points at
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				log.Warn("checking the mode of a file in the data directory", "path", path, "error", err.Error())
			}
			return nil
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			tighten(path, fi.Mode().Perm(), limit, log)
		}
		return nil
	})
	if err != nil {
		log.Warn("checking the modes of the data directory", "error", err.Error())
	}
}

// tighten changes path's mode from old to old&limit when that differs.
func tighten(path string, old, limit fs.FileMode, log *slog.Logger) {
	mode := old & limit
	if mode == old {
		return
	}
	if err := os.Chmod(path, mode); err != nil {
		log.Warn("could not tighten the mode of a file in the data directory", "path", path, "mode", fmt.Sprintf("%04o", uint32(old)), "error", err.Error())
		return
	}
	log.Warn(fmt.Sprintf("tightened the mode of %s from %04o to %04o", path, uint32(old), uint32(mode)))
}
