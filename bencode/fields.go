package bencode

import (
	"cmp"
	"reflect"
	"slices"
	"strings"
	"sync"
)

// field is one dict key of a struct type, after flattening embedded structs.
type field struct {
	key       string
	index     []int        // reflect field index path from the outer struct
	typ       reflect.Type // the field's type
	tagged    bool         // key came from a tag
	omitEmpty bool         // `bencode:",omitempty"`: skip false, 0, "", empty or nil
	omitZero  bool         // `bencode:",omitzero"`: skip the zero value
}

// structFields lists a struct type's keys in the order Marshal writes them:
// ascending bytewise, as BEP 3 requires.
type structFields struct {
	list  []field
	byKey map[string]int // key → index in list
}

var fieldCache sync.Map // reflect.Type → *structFields

// cachedFields returns the fields of struct type t, computing them once.
func cachedFields(t reflect.Type) *structFields {
	if f, ok := fieldCache.Load(t); ok {
		return f.(*structFields)
	}
	f, _ := fieldCache.LoadOrStore(t, typeFields(t))
	return f.(*structFields)
}

// parseTag splits `bencode:"key,opt,opt"`.
func parseTag(tag string) (key string, omitEmpty, omitZero bool) {
	key, opts, _ := strings.Cut(tag, ",")
	for opts != "" {
		var o string
		o, opts, _ = strings.Cut(opts, ",")
		switch o {
		case "omitempty":
			omitEmpty = true
		case "omitzero":
			omitZero = true
		}
	}
	return key, omitEmpty, omitZero
}

// typeFields flattens struct type t with the rules of encoding/json, so Go
// programmers meet no surprises: a breadth-first walk through embedded
// structs; at each key the shallowest field wins, a tagged field beats an
// untagged one at the same depth, and otherwise a tie hides the key entirely.
func typeFields(t reflect.Type) *structFields {
	type queued struct {
		typ   reflect.Type
		index []int
	}
	var fields []field
	next := []queued{{typ: t}}
	var count, nextCount map[reflect.Type]int
	visited := map[reflect.Type]bool{}
	for len(next) > 0 {
		current := next
		next = nil
		count, nextCount = nextCount, map[reflect.Type]int{}
		for _, q := range current {
			if visited[q.typ] {
				continue
			}
			visited[q.typ] = true
			for i := 0; i < q.typ.NumField(); i++ {
				sf := q.typ.Field(i)
				ft := sf.Type
				if ft.Name() == "" && ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				if sf.Anonymous {
					if !sf.IsExported() && ft.Kind() != reflect.Struct {
						continue
					}
				} else if !sf.IsExported() {
					continue
				}
				tag := sf.Tag.Get("bencode")
				if tag == "-" {
					continue
				}
				key, omitEmpty, omitZero := parseTag(tag)
				index := append(slices.Clip(q.index), i)
				if key != "" || !sf.Anonymous || ft.Kind() != reflect.Struct {
					f := field{
						key:       key,
						index:     index,
						typ:       sf.Type,
						tagged:    key != "",
						omitEmpty: omitEmpty,
						omitZero:  omitZero,
					}
					if f.key == "" {
						f.key = sf.Name
					}
					fields = append(fields, f)
					if count[q.typ] > 1 {
						// The same embedded type twice at one depth: its fields
						// conflict with themselves. A second copy makes the tie
						// visible to the dominance pass below.
						fields = append(fields, f)
					}
					continue
				}
				nextCount[ft]++
				if nextCount[ft] == 1 {
					next = append(next, queued{typ: ft, index: index})
				}
			}
		}
	}
	slices.SortFunc(fields, func(a, b field) int {
		if c := strings.Compare(a.key, b.key); c != 0 {
			return c
		}
		if c := cmp.Compare(len(a.index), len(b.index)); c != 0 {
			return c
		}
		if a.tagged != b.tagged {
			if a.tagged {
				return -1
			}
			return 1
		}
		return slices.Compare(a.index, b.index)
	})
	sf := &structFields{byKey: make(map[string]int)}
	for i := 0; i < len(fields); {
		j := i + 1
		for j < len(fields) && fields[j].key == fields[i].key {
			j++
		}
		group := fields[i:j]
		i = j
		if len(group) > 1 && len(group[0].index) == len(group[1].index) && group[0].tagged == group[1].tagged {
			continue // ambiguous: hidden, as in encoding/json
		}
		sf.byKey[group[0].key] = len(sf.list)
		sf.list = append(sf.list, group[0])
	}
	return sf
}

// fieldByIndex returns the struct field of v at index, allocating nil
// embedded pointers on the way when alloc is set. It returns ok=false when a
// nil embedded pointer is met that cannot or should not be allocated.
func fieldByIndex(v reflect.Value, index []int, alloc bool) (reflect.Value, bool) {
	for n, i := range index {
		if n > 0 && v.Kind() == reflect.Pointer {
			if v.IsNil() {
				if !alloc || !v.CanSet() {
					return reflect.Value{}, false
				}
				v.Set(reflect.New(v.Type().Elem()))
			}
			v = v.Elem()
		}
		v = v.Field(i)
	}
	return v, true
}
