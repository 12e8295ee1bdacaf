namespace interop;

entity Books {
  key ID    : Integer;
      title : String(111) not null;
      stock : Integer;
}
