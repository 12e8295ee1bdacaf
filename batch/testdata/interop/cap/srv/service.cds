using interop from '../db/schema';

service CatalogService {
  entity Books as projection on interop.Books;
}
